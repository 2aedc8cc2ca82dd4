import assert from "node:assert/strict";
import { countTokens } from "gpt-tokenizer";
import {
  countChatPromptTokens,
  countChatPromptTokensYielding,
  countEmbeddingTokens,
  countEmbeddingTokensYielding,
  countText,
  mostWeCount,
  usageDiverges,
} from "./count_tokens.ts";
import { sleep } from "../../shared/mod.ts";

/** gpt-tokenizer's o200k count with special-token spellings taken as ordinary text. */
const reference = (text: string) => countTokens(text, { disallowedSpecial: new Set() });

const CORPUS = [
  "benchmark prompt of a few words",
  "Hello, world! How's it going? I'd've thought they'll say we're fine.",
  "   leading and trailing spaces   ",
  "tabs\tand\nnew\r\nlines\n\n\n  indented\n\t\tmore",
  "numbers 1 12 123 1234 12345 3.14159 -42 1e10 0x1F 2026-12-02",
  "function add(a, b) {\n  return a + b; // sum\n}\nconst x = [1, 2, 3].map((n) => n ** 2);",
  "SELECT * FROM \"jobs\" WHERE id = $1 AND status IN ('running', 'done');",
  "Ünïcödé façade naïve coöperate résumé Straße",
  "Привет, как дела? Это тест на кириллице.",
  "日本語のテキストと中文文本，还有한국어 텍스트。",
  "مرحبا بالعالم، هذا اختبار",
  "नमस्ते दुनिया, यह एक परीक्षण है",
  "emoji 😀😃😄 families 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 skin 👍🏽",
  "combining: e\u0301 a\u0308 n\u0303 and zero\u200bwidth",
  "CamelCaseWords and SCREAMING_SNAKE and kebab-case-words",
  "URLs https://example.com/path?q=1&r=two#frag and emails a.b@c.de",
  "!!!???...---___***###@@@",
  "<|endoftext|> and <|im_start|>user<|im_sep|> spelled out",
  "a".repeat(5000),
  "lone surrogates \ud800 and \udc00 in text",
];

Deno.test("count tokens - agrees with gpt-tokenizer's o200k count on prose, code and many scripts", () => {
  for (const text of CORPUS) {
    assert.equal(countText(text), reference(text), JSON.stringify(text.slice(0, 60)));
  }
});

Deno.test("count tokens - agrees with gpt-tokenizer on random text from many scripts", () => {
  let seed = 42;
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const pools = [
    "abcdefghijklmnopqrstuvwxyz",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789",
    " \t\n\r",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "éèêëàâäôöûüçñßø",
    "абвгдежзийклмнопрстуфхцчшщыэюя",
    "的一是不了人我在有他这中大来上",
    "😀🎉👍🏽❤️🇫🇷",
    "\u0301\u0308\u200d",
  ];
  for (let n = 0; n < 1500; n++) {
    let text = "";
    const len = 1 + Math.floor(random() * 80);
    for (let i = 0; i < len; i++) {
      const pool = [...pools[Math.floor(random() * pools.length)]];
      text += pool[Math.floor(random() * pool.length)];
    }
    assert.equal(countText(text), reference(text), JSON.stringify(text));
  }
});

Deno.test("count tokens - text that spells a special token is counted, not refused", () => {
  assert.equal(countText("<|endoftext|>"), reference("<|endoftext|>"));
  assert.ok(countText("<|endoftext|>") > 1, "as ordinary text it is several tokens");
  const messages = [{ role: "user", content: "repeat after me: <|im_end|><|endoftext|>" }];
  assert.equal(countChatPromptTokens(messages), 3 + 3 + reference(messages[0].content) + reference("user"));
});

Deno.test("count tokens - chat messages add the chat format's tokens; embeddings count token arrays", () => {
  const messages = [
    { role: "system", content: "You are terse." },
    { role: "user", name: "ann", content: [{ type: "text", text: "Hi" }, { type: "text", text: " there" }] },
  ];
  const expected = 3 + (3 + reference("You are terse.") + reference("system")) +
    (3 + reference("Hi there") + reference("user") + 1 + reference("ann"));
  assert.equal(countChatPromptTokens(messages), expected);
  assert.equal(countEmbeddingTokens(["one two", [1, 2, 3]]), reference("one two") + 3);
  assert.equal(countText(""), 0);
});

Deno.test("count tokens - the vocabulary stays off the heap of the process that counts", async () => {
  // A fresh process: what counting keeps on V8's heap after a full GC, against gpt-tokenizer's own.
  const script = `
    const gc = globalThis.gc;
    const { countText } = await import(${JSON.stringify(new URL("./count_tokens.ts", import.meta.url).href)});
    countText("warm up the counter");
    gc(); gc();
    const ours = Deno.memoryUsage().heapUsed;
    const { countTokens } = await import("gpt-tokenizer");
    countTokens("warm up the counter");
    gc(); gc();
    console.log(JSON.stringify({ ours, withStrings: Deno.memoryUsage().heapUsed }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--v8-flags=--expose-gc", script],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(out.success);
  const { ours, withStrings } = JSON.parse(new TextDecoder().decode(out.stdout));
  const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
  assert.ok(ours < 8 * 1048576, `the heap holds ${mb(ours)} with our counter loaded`);
  assert.ok(withStrings - ours > 10 * 1048576, `gpt-tokenizer's strings add ${mb(withStrings - ours)}`);
});

/** A long prompt of mixed text (~200 KB). */
const LONG = CORPUS.slice(0, 18).join("\n").repeat(60);

Deno.test("count tokens - a long prompt counted a slice at a time counts the same", async () => {
  const messages = [{ role: "system", content: "Be brief." }, { role: "user", name: "ann", content: LONG }];
  assert.equal(await countChatPromptTokensYielding(messages), countChatPromptTokens(messages));
  const inputs = [...Array.from({ length: 300 }, (_, i) => `input ${i}: ${CORPUS[i % CORPUS.length]}`), [
    1,
    2,
    3,
  ], LONG];
  assert.equal(await countEmbeddingTokensYielding(inputs), countEmbeddingTokens(inputs));
});

Deno.test("count tokens - a long prompt lets the event loop run while it is counted", async () => {
  let turns = 0;
  let counting = true;
  const tick = () => {
    if (!counting) return;
    turns++;
    setTimeout(tick, 0);
  };
  setTimeout(tick, 0);
  await countChatPromptTokensYielding([{ role: "user", content: LONG }]);
  counting = false;
  // Counted in one go, no timer could fire before the count ended.
  assert.ok(turns >= 2, `timers ran ${turns} times during the count`);
  await sleep(5);
});

Deno.test("count tokens - a count stops when its signal aborts (the consumer has gone)", async () => {
  const ctrl = new AbortController();
  const counted = countChatPromptTokensYielding([{ role: "user", content: LONG }], ctrl.signal);
  setTimeout(() => ctrl.abort(new DOMException("the consumer went away", "AbortError")), 0);
  await assert.rejects(counted, { name: "AbortError" });
});

Deno.test("count tokens - a count given a limit stops soon past it", async () => {
  const messages = [{ role: "user", content: LONG }];
  const full = countChatPromptTokens(messages);
  const stopped = await countChatPromptTokensYielding(messages, undefined, 1_000);
  // It stops at the first slice boundary past the limit: over it, and far short of the whole.
  assert.ok(stopped > 1_000 && stopped < 3_000, `counted ${stopped} of ${full}`);
  assert.ok(full > 4 * stopped, `counted ${stopped} of ${full}`);
  // A limit the prompt is under changes nothing.
  assert.equal(await countChatPromptTokensYielding(messages, undefined, full), full);
  assert.ok(mostWeCount(4096) > 4096 && !usageDiverges(4096, mostWeCount(4096)));
  assert.ok(usageDiverges(4096, mostWeCount(4096) + 1));
});
