import assert from "node:assert/strict";
import { parseChatRequest, parseEmbeddingsRequest, parseProviderPrefs, RequestError } from "./requests.ts";

const messages = [{ role: "user", content: "hi" }];

Deno.test("requests - a chat request keeps unknown fields for the engine and drops provider", () => {
  const r = parseChatRequest({
    model: "m",
    messages,
    temperature: 0.2,
    top_k: 5,
    provider: { order: ["a"], allow_fallbacks: false },
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: 12,
  });
  assert.equal(r.stream, true);
  assert.equal(r.includeUsage, true);
  assert.equal(r.maxTokens, 12);
  assert.deepEqual(r.provider, {
    order: ["a"],
    only: [],
    ignore: [],
    allowFallbacks: false,
    minVramTier: null,
    maxPrice: { promptPer1k: null, completionPer1k: null },
  });
  assert.equal(r.body.top_k, 5);
  assert.equal("provider" in r.body, false);
});

Deno.test("requests - bad chat requests name the parameter at fault", () => {
  const bad: [unknown, string | null][] = [
    [[], null],
    [{ messages }, "model"],
    [{ model: "m" }, "messages"],
    [{ model: "m", messages: [] }, "messages"],
    [{ model: "m", messages: [{ content: "x" }] }, "messages[0]"],
    [{ model: "m", messages, stream: "yes" }, "stream"],
    [{ model: "m", messages, max_tokens: 0 }, "max_tokens"],
    [{ model: "m", messages, provider: { only: "a" } }, "provider.only"],
    [{ model: "m", messages, provider: { min_vram_tier: "huge" } }, "provider.min_vram_tier"],
  ];
  for (const [body, param] of bad) {
    assert.throws(
      () => parseChatRequest(body),
      (e: unknown) => e instanceof RequestError && e.param === param,
    );
  }
});

Deno.test("requests - embeddings accept strings, string arrays and token arrays", () => {
  assert.deepEqual(parseEmbeddingsRequest({ model: "m", input: "a" }).inputs, ["a"]);
  assert.deepEqual(parseEmbeddingsRequest({ model: "m", input: ["a", "b"] }).inputs, ["a", "b"]);
  assert.deepEqual(parseEmbeddingsRequest({ model: "m", input: [1, 2] }).inputs, [[1, 2]]);
  assert.throws(() => parseEmbeddingsRequest({ model: "m", input: [] }), RequestError);
  assert.throws(() => parseEmbeddingsRequest({ model: "m", input: [""] }), RequestError);
  assert.throws(() => parseEmbeddingsRequest({ model: "m", input: 3 }), RequestError);
});

Deno.test("requests - provider.max_price is USD per million tokens, kept exactly as nano-USD per 1k", () => {
  const p = parseProviderPrefs({ max_price: { prompt: 0.2, completion: "1.25" } });
  assert.deepEqual(p.maxPrice, { promptPer1k: 200_000n, completionPer1k: 1_250_000n });
  assert.deepEqual(parseProviderPrefs({ max_price: { prompt: 1 } }).maxPrice, {
    promptPer1k: 1_000_000n,
    completionPer1k: null,
  });
  for (const bad of [{ max_price: 3 }, { max_price: { prompt: -1 } }, { max_price: { completion: "x" } }]) {
    assert.throws(() => parseProviderPrefs(bad), RequestError);
  }
});

Deno.test("requests - max_tokens is checked even beside max_completion_tokens, as the schema says", () => {
  assert.throws(
    () => parseChatRequest({ model: "m", messages, max_completion_tokens: 7, max_tokens: 0 }),
    (e: unknown) => e instanceof RequestError && e.param === "max_tokens",
  );
  assert.equal(
    parseChatRequest({ model: "m", messages, max_completion_tokens: 7, max_tokens: 3 }).maxTokens,
    7,
  );
});

Deno.test("requests - an empty embeddings input is refused with its own message", () => {
  for (const input of ["", ["a", ""]]) {
    assert.throws(
      () => parseEmbeddingsRequest({ model: "m", input }),
      (e: unknown) => e instanceof RequestError && e.message === "input must not contain empty strings",
    );
  }
});
