import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { conversationKey } from "./conversation_key.ts";
import { FrameOpener, FrameSealer, FramingError, MAX_FRAME_PLAINTEXT } from "./framing.ts";
import { v2 as nip44 } from "nostr-tools/nip44";

const consumer = generateSecretKey();
const node = generateSecretKey();
const c2nKey = conversationKey(consumer, getPublicKey(node));

Deno.test("framing - both sides derive one key; a long message crosses in frames of at most 64 KB", () => {
  assert.deepEqual(conversationKey(node, getPublicKey(consumer)), c2nKey);
  const text = 'é🍕"\\\n'.repeat(20_000) + "x".repeat(150_000);
  const sealer = new FrameSealer(c2nKey, "job_1", "c2n");
  const frames = [...sealer.message(text), ...sealer.message("second"), sealer.end()];
  assert.ok(frames.length > 4);
  for (const f of frames) {
    assert.ok(new TextEncoder().encode(nip44.decrypt(f, c2nKey)).length <= MAX_FRAME_PLAINTEXT);
  }
  const opener = new FrameOpener(conversationKey(node, getPublicKey(consumer)), "job_1", "c2n");
  const got = frames.map((f) => opener.open(f)).filter((o) => o.type !== "partial");
  assert.deepEqual(got, [{ type: "message", text }, { type: "message", text: "second" }, { type: "end" }]);
  assert.ok(opener.ended);
});

function refused(open: () => unknown): string {
  try {
    open();
  } catch (err) {
    if (err instanceof FramingError) return err.code;
    throw err;
  }
  return "accepted";
}

Deno.test("framing - tampered, foreign, reflected, replayed, reordered and late frames are refused", () => {
  const sealer = new FrameSealer(c2nKey, "job_1", "c2n");
  const [a, b] = [sealer.message("one")[0], sealer.message("two")[0]];
  const end = sealer.end();
  const open = () => new FrameOpener(c2nKey, "job_1", "c2n");
  const tampered = a.slice(0, 40) + (a[40] === "A" ? "B" : "A") + a.slice(41);
  assert.equal(refused(() => open().open(tampered)), "frame_undecryptable");
  assert.equal(refused(() => new FrameOpener(c2nKey, "job_2", "c2n").open(a)), "frame_foreign");
  assert.equal(refused(() => new FrameOpener(c2nKey, "job_1", "n2c").open(a)), "frame_reflected");
  assert.equal(refused(() => open().open(b)), "frame_out_of_order");
  const o = open();
  o.open(a);
  assert.equal(refused(() => o.open(a)), "frame_replayed");
  o.open(b);
  o.open(end);
  assert.equal(refused(() => o.open(b)), "frame_after_end");
  const other = conversationKey(generateSecretKey(), getPublicKey(node));
  assert.equal(refused(() => new FrameOpener(other, "job_1", "c2n").open(a)), "frame_undecryptable");
});

Deno.test("framing - an error frame ends the stream with its code", () => {
  const sealer = new FrameSealer(c2nKey, "job_9", "n2c");
  const o = new FrameOpener(c2nKey, "job_9", "n2c");
  assert.deepEqual(o.open(sealer.error("ticket_expired", "the ticket has expired")), {
    type: "error",
    code: "ticket_expired",
    message: "the ticket has expired",
  });
  assert.throws(() => sealer.message("more"));
});

const utf8 = new TextEncoder();

/** The plaintext of every frame, parsed, after checking none exceeds NIP-44's 65,535 bytes. */
function plaintexts(frames: string[], key = c2nKey): Record<string, unknown>[] {
  return frames.map((f) => {
    const text = nip44.decrypt(f, key);
    assert.ok(
      utf8.encode(text).length <= MAX_FRAME_PLAINTEXT,
      `a frame of ${utf8.encode(text).length} bytes`,
    );
    return JSON.parse(text);
  });
}

/** The sealer's rule (docs/protocol.md §14): a piece's JSON-escaped UTF-8 is at most this. */
const pieceBudget = (stream: string) =>
  MAX_FRAME_PLAINTEXT - 512 - utf8.encode(JSON.stringify(stream)).length;

function roundTrip(text: string, stream = "job_1"): Record<string, unknown>[] {
  const frames = new FrameSealer(c2nKey, stream, "c2n").message(text);
  const opener = new FrameOpener(c2nKey, stream, "c2n");
  const opened = frames.map((f) => opener.open(f));
  assert.deepEqual(opened.at(-1), { type: "message", text });
  assert.ok(opened.slice(0, -1).every((o) => o.type === "partial"));
  return plaintexts(frames);
}

Deno.test("framing - a 512 KB message of every kind of character, lone surrogates too, round trips", () => {
  const kinds = [
    "a",
    "Z",
    " ",
    '"',
    "\\",
    "/",
    "\n",
    "\r",
    "\t",
    "\b",
    "\f",
    "\u0000",
    "\u001f",
    "\u007f",
    "é",
    "ß",
    "€",
    "中",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\uffff",
    "🍕",
    "🦄",
    "\u{10ffff}",
    "\ud800", // lone high surrogate
    "\udfff", // lone low surrogate
    "\udc00\ud800", // a pair the wrong way round: two lone surrogates
    "\ud83c\ud83c",
  ];
  let seed = 7;
  const parts: string[] = [];
  let bytes = 0; // an estimate: neighbouring lone surrogates may pair up
  for (let i = 0; i < 2_000_000 && bytes < 560 * 1024; i++) {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    const part = kinds[seed % kinds.length];
    parts.push(part);
    bytes += utf8.encode(part).length;
  }
  const text = parts.join("") + "\ud800"; // ends on a lone high surrogate
  assert.ok(utf8.encode(text).length >= 512 * 1024);
  const frames = roundTrip(text);
  assert.ok(frames.length >= 8, `${frames.length} frames`);
  frames.forEach((f, i) => {
    assert.equal(f.n, i);
    assert.equal(f.m, i < frames.length - 1 ? 1 : undefined);
  });
});

Deno.test("framing - no frame exceeds 65,535 bytes, even of characters JSON escapes to 6 bytes", () => {
  for (const unit of ["\u0001", "\ud800", "\udfff", "🍕", "€", '"']) {
    const frames = roundTrip(unit.repeat(100_000));
    assert.ok(frames.length >= 2);
  }
  // A job id JSON must escape costs its escaped length in every frame.
  const stream = "\u0001".repeat(128); // the longest job id a ticket allows
  const frames = roundTrip("\u0002".repeat(50_000), stream);
  assert.ok(frames.every((f) => f.s === stream));
});

Deno.test("framing - a message of exactly the budget takes one frame; one byte more takes two", () => {
  const budget = pieceBudget("job_1");
  assert.equal(budget, 65_016);
  assert.equal(roundTrip("x".repeat(budget)).length, 1);
  assert.deepEqual(roundTrip("x".repeat(budget + 1)).map((f) => (f.b as string).length), [budget, 1]);
  // A pair is never split: with 3 bytes left it moves whole to the next piece.
  const pair = roundTrip("x".repeat(budget - 3) + "🍕");
  assert.deepEqual(pair.map((f) => f.b), ["x".repeat(budget - 3), "🍕"]);
  assert.equal(roundTrip("x".repeat(budget - 4) + "🍕").length, 1);
  // A lone surrogate is escaped (\udXXX, 6 bytes), and counted so.
  assert.equal(roundTrip("x".repeat(budget - 6) + "\ud800").length, 1);
  assert.equal(roundTrip("x".repeat(budget - 5) + "\ud800").length, 2);
  assert.equal(roundTrip('"'.repeat(budget / 2)).length, 1);
  assert.equal(roundTrip('"'.repeat(budget / 2 + 1)).length, 2);
});

Deno.test("framing - an empty message is one data frame with an empty piece", () => {
  const sealer = new FrameSealer(c2nKey, "job_1", "c2n");
  const frames = [...sealer.message(""), sealer.end()];
  assert.deepEqual(plaintexts(frames), [
    { v: 1, s: "job_1", d: "c2n", n: 0, k: "data", b: "" },
    { v: 1, s: "job_1", d: "c2n", n: 1, k: "end", b: "" },
  ]);
  const opener = new FrameOpener(c2nKey, "job_1", "c2n");
  assert.deepEqual(frames.map((f) => opener.open(f)), [{ type: "message", text: "" }, { type: "end" }]);
});

Deno.test("framing - a frame's plaintext carries exactly its documented fields", () => {
  const sealer = new FrameSealer(c2nKey, "job_7", "n2c");
  const text = "y".repeat(pieceBudget("job_7") + 2);
  const frames = [...sealer.message(text), sealer.error("engine_failed", "the engine stopped")];
  assert.deepEqual(
    frames.map((f) => nip44.decrypt(f, c2nKey).replace(/"b":"y+"/, '"b":"…"')),
    [
      '{"v":1,"s":"job_7","d":"n2c","n":0,"k":"data","b":"…","m":1}',
      '{"v":1,"s":"job_7","d":"n2c","n":1,"k":"data","b":"…"}',
      '{"v":1,"s":"job_7","d":"n2c","n":2,"k":"error","b":"the engine stopped","c":"engine_failed"}',
    ],
  );
});

Deno.test("framing - an opener refuses an end inside a message and a payload longer than NIP-44's", () => {
  const sealer = new FrameSealer(c2nKey, "job_1", "c2n");
  const [first] = sealer.message("z".repeat(pieceBudget("job_1") + 1));
  const opener = new FrameOpener(c2nKey, "job_1", "c2n");
  assert.deepEqual(opener.open(first), { type: "partial" });
  const end = nip44.encrypt('{"v":1,"s":"job_1","d":"c2n","n":1,"k":"end","b":""}', c2nKey);
  assert.equal(refused(() => opener.open(end)), "frame_invalid");
  const long = nip44.encrypt("x".repeat(70_000), c2nKey); // nostr-tools' extension, not NIP-44 v2
  assert.equal(refused(() => new FrameOpener(c2nKey, "job_1", "c2n").open(long)), "frame_undecryptable");
  for (const plain of ["[]", '{"v":2,"s":"job_1","d":"c2n","n":0,"k":"data","b":""}', "null"]) {
    const f = nip44.encrypt(plain, c2nKey);
    assert.equal(refused(() => new FrameOpener(c2nKey, "job_1", "c2n").open(f)), "frame_invalid");
  }
});

Deno.test("framing - a folded end: the last message's last frame ends the stream, nothing may follow", () => {
  const text = "x".repeat(150_000);
  const sealer = new FrameSealer(c2nKey, "job_1", "c2n");
  const frames = [...sealer.message("first"), ...sealer.message(text, { end: true })];
  assert.throws(() => sealer.end(), /ended/);
  assert.equal(frames.length, 4);
  const plain = frames.map((f) => JSON.parse(nip44.decrypt(f, c2nKey)));
  assert.deepEqual(plain.map((p) => [p.m, p.e]), [[undefined, undefined], [1, undefined], [1, undefined], [
    undefined,
    1,
  ]]);
  const o = new FrameOpener(c2nKey, "job_1", "c2n");
  const got = frames.map((f) => o.open(f)).filter((x) => x.type !== "partial");
  assert.deepEqual(got, [{ type: "message", text: "first" }, { type: "message", text, end: true }]);
  assert.ok(o.ended);
  // Any frame after a folded end is refused, as after an `end` frame.
  assert.equal(refused(() => o.open(frames[0])), "frame_after_end");
  // Without its last frame the stream has not ended (a cut answer is seen as one).
  const cut = new FrameOpener(c2nKey, "job_1", "c2n");
  frames.slice(0, 3).forEach((f) => cut.open(f));
  assert.equal(cut.ended, false);
  // A frame that says both "more pieces follow" and "the stream ends" is refused.
  const both = nip44.encrypt(
    JSON.stringify({ v: 1, s: "job_1", d: "c2n", n: 0, k: "data", b: "a", m: 1, e: 1 }),
    c2nKey,
  );
  assert.equal(refused(() => new FrameOpener(c2nKey, "job_1", "c2n").open(both)), "frame_invalid");
});
