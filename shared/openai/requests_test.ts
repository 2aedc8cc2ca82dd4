import assert from "node:assert/strict";
import {
  parseChatRequest,
  parseEmbeddingsRequest,
  parseProviderPrefs,
  RequestError,
  requestParameters,
} from "./requests.ts";

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
    minReputation: null,
    sort: null,
    quantizations: [],
    requireParameters: false,
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
    [{ model: "m", messages, provider: { min_reputation: 1.5 } }, "provider.min_reputation"],
    [{ model: "m", messages, provider: { min_reputation: -0.1 } }, "provider.min_reputation"],
    [{ model: "m", messages, provider: { min_reputation: "0.5" } }, "provider.min_reputation"],
    [{ model: "m", messages, provider: { sort: "cheapest" } }, "provider.sort"],
    [{ model: "m", messages, provider: { quantizations: "int4" } }, "provider.quantizations"],
    [{ model: "m", messages, provider: { quantizations: ["q4_k_m"] } }, "provider.quantizations"],
    [{ model: "m", messages, provider: { require_parameters: "yes" } }, "provider.require_parameters"],
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

Deno.test("requests - max_tokens is checked even beside max_completion_tokens; the smaller limit holds", () => {
  assert.throws(
    () => parseChatRequest({ model: "m", messages, max_completion_tokens: 7, max_tokens: 0 }),
    (e: unknown) => e instanceof RequestError && e.param === "max_tokens",
  );
  assert.equal(
    parseChatRequest({ model: "m", messages, max_completion_tokens: 7, max_tokens: 3 }).maxTokens,
    3,
  );
  assert.equal(
    parseChatRequest({ model: "m", messages, max_completion_tokens: 2, max_tokens: 9 }).maxTokens,
    2,
  );
});

Deno.test("requests - n is 1 to 128 choices, 1 when unset", () => {
  assert.equal(parseChatRequest({ model: "m", messages }).choices, 1);
  assert.equal(parseChatRequest({ model: "m", messages, n: 4 }).choices, 4);
  for (const n of [0, 129, 1.5, "2"]) {
    assert.throws(
      () => parseChatRequest({ model: "m", messages, n }),
      (e: unknown) => e instanceof RequestError && e.param === "n",
      String(n),
    );
  }
});

Deno.test("requests - an empty embeddings input is refused with its own message", () => {
  for (const input of ["", ["a", ""]]) {
    assert.throws(
      () => parseEmbeddingsRequest({ model: "m", input }),
      (e: unknown) => e instanceof RequestError && e.message === "input must not contain empty strings",
    );
  }
});

Deno.test("requests - provider's min_reputation, sort, quantizations and require_parameters are read", () => {
  const p = parseProviderPrefs({
    min_reputation: 0.8,
    sort: "throughput",
    quantizations: ["int4", "fp16"],
    require_parameters: true,
  });
  assert.equal(p.minReputation, 0.8);
  assert.equal(p.sort, "throughput");
  assert.deepEqual(p.quantizations, ["int4", "fp16"]);
  assert.equal(p.requireParameters, true);
  for (const sort of ["price", "latency"]) assert.equal(parseProviderPrefs({ sort }).sort, sort);
  const nulls = parseProviderPrefs({
    min_reputation: null,
    sort: null,
    quantizations: null,
    require_parameters: null,
  });
  assert.deepEqual(
    [nulls.minReputation, nulls.sort, nulls.quantizations, nulls.requireParameters],
    [null, null, [], false],
  );
  assert.throws(
    () => parseChatRequest({ model: "m", messages, provider: { sort: "fast" } }),
    (e: unknown) =>
      e instanceof RequestError && e.message === "provider.sort must be one of price, throughput, latency",
  );
});

Deno.test("requests - the optional parameters of a body are its fields beyond model, messages and routing", () => {
  assert.deepEqual(
    requestParameters({
      model: "m",
      messages,
      stream: true,
      stream_options: { include_usage: true },
      user: "u",
      tools: [],
      seed: 1,
      response_format: { type: "json_object" },
      stop: null,
    }),
    ["tools", "seed", "response_format"],
  );
  assert.deepEqual(requestParameters({ model: "m", input: "x", dimensions: 8 }), ["dimensions"]);
});
