import assert from "node:assert/strict";
import OpenAI from "openai";
import {
  createTestEngineHandler,
  splitTokens,
  startTestEngine,
  type TestEngine,
  type TestEngineOptions,
} from "./test_engine.ts";
import { parseEngineArgs } from "./test_engine_main.ts";
import { sleep } from "../shared/mod.ts";

const MODEL = "infernet-test-echo";
type Json = Record<string, unknown>;

async function withEngine(
  opts: TestEngineOptions,
  fn: (engine: TestEngine) => Promise<void>,
): Promise<void> {
  const engine = await startTestEngine(opts);
  try {
    await fn(engine);
  } finally {
    await engine.close();
  }
}

function post(engine: TestEngine, path: string, body: unknown, headers: HeadersInit = {}) {
  return fetch(engine.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

function chatBody(extra: Json = {}, text = "hello big world"): Json {
  return { model: MODEL, messages: [{ role: "user", content: text }], ...extra };
}

/** Splits an SSE body into its `data:` payloads, checking the exact `data: …\n\n` framing. */
function sseData(text: string): string[] {
  assert.ok(text.endsWith("\n\n"), "the stream ends with a blank line");
  return text.slice(0, -2).split("\n\n").map((frame) => {
    assert.ok(frame.startsWith("data: "), `frame is 'data: …': ${frame}`);
    return frame.slice("data: ".length);
  });
}

async function waitFor(check: () => boolean, timeoutMs = 1000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error("timed out waiting for a condition");
    await sleep(5);
  }
}

Deno.test("test engine - splits a reply into words that keep their trailing space", () => {
  assert.deepEqual(splitTokens("Echo: hello world"), ["Echo: ", "hello ", "world"]);
  assert.equal(splitTokens("Echo:  two  spaces ").join(""), "Echo:  two  spaces ");
});

Deno.test("test engine - lists its models in OpenAI's model shape", async () => {
  await withEngine({ models: ["a", "b"] }, async (engine) => {
    const res = await fetch(engine.url + "/v1/models");
    assert.equal(res.headers.get("x-infernet-engine"), "test");
    const owned = { object: "model", created: 1_700_000_000, owned_by: "infernet-test-engine" };
    assert.deepEqual(await res.json(), {
      object: "list",
      data: [{ id: "a", ...owned }, { id: "b", ...owned }],
    });
  });
});

Deno.test("test engine - answers a non-stream chat completion with the echo reply and usage", async () => {
  await withEngine({}, async (engine) => {
    const res = await post(engine, "/v1/chat/completions", chatBody());
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-infernet-engine"), "test");
    const body = await res.json();
    assert.match(body.id, /^chatcmpl-/);
    assert.ok(Number.isInteger(body.created));
    assert.deepEqual(body, {
      id: body.id,
      object: "chat.completion",
      created: body.created,
      model: MODEL,
      choices: [{
        index: 0,
        message: { role: "assistant", content: "Echo: hello big world" },
        logprobs: null,
        finish_reason: "stop",
      }],
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
    });
  });
});

Deno.test("test engine - echoes the last user message's text parts and counts every message's words", async () => {
  await withEngine({}, async (engine) => {
    const messages = [
      { role: "system", content: "be brief" },
      { role: "user", content: "first question" },
      { role: "assistant", content: "ok" },
      { role: "user", content: [{ type: "text", text: "second" }, { type: "image_url" }] },
    ];
    const body = await (await post(engine, "/v1/chat/completions", { model: MODEL, messages }))
      .json();
    assert.equal(body.choices[0].message.content, "Echo: second");
    assert.deepEqual(body.usage, { prompt_tokens: 6, completion_tokens: 2, total_tokens: 8 });
  });
});

Deno.test("test engine - omits usage entirely when usage reporting is off", async () => {
  await withEngine({ usage: false }, async (engine) => {
    const body = await (await post(engine, "/v1/chat/completions", chatBody())).json();
    assert.equal("usage" in body, false);
    const stream = chatBody({ stream: true, stream_options: { include_usage: true } });
    const frames = sseData(await (await post(engine, "/v1/chat/completions", stream)).text());
    assert.equal(frames.at(-1), "[DONE]");
    for (const frame of frames.slice(0, -1)) assert.equal("usage" in JSON.parse(frame), false);
    assert.equal(JSON.parse(frames.at(-2)!).choices[0].finish_reason, "stop");
  });
});

Deno.test("test engine - streams one chunk per token and ends with [DONE]", async () => {
  await withEngine({ tokenDelayMs: 1 }, async (engine) => {
    const res = await post(engine, "/v1/chat/completions", chatBody({ stream: true }));
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    assert.equal(res.headers.get("x-infernet-engine"), "test");
    const frames = sseData(await res.text());
    assert.equal(frames.pop(), "[DONE]");
    const chunks = frames.map((f) => JSON.parse(f));
    const { id, created } = chunks[0];
    const choice = (delta: Json, finish: string | null) => ({
      id,
      object: "chat.completion.chunk",
      created,
      model: MODEL,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    });
    assert.deepEqual(chunks, [
      choice({ role: "assistant", content: "" }, null),
      choice({ content: "Echo: " }, null),
      choice({ content: "hello " }, null),
      choice({ content: "big " }, null),
      choice({ content: "world" }, null),
      choice({}, "stop"),
    ]);
  });
});

Deno.test("test engine - streams a final usage chunk and usage null before it when include_usage is set", async () => {
  await withEngine({}, async (engine) => {
    const body = chatBody({ stream: true, stream_options: { include_usage: true } });
    const frames = sseData(await (await post(engine, "/v1/chat/completions", body)).text());
    assert.equal(frames.pop(), "[DONE]");
    const chunks = frames.map((f) => JSON.parse(f));
    const last = chunks.pop();
    assert.deepEqual(last.choices, []);
    assert.equal(last.object, "chat.completion.chunk");
    assert.deepEqual(last.usage, { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
    assert.equal(chunks.length, 6);
    for (const chunk of chunks) {
      assert.equal(chunk.usage, null);
      assert.equal(chunk.id, last.id);
    }
  });
});

Deno.test("test engine - usageInflation multiplies the completion tokens it reports, not the text", async () => {
  await withEngine({ usageInflation: 750 }, async (engine) => {
    const plain = await (await post(engine, "/v1/chat/completions", chatBody())).json();
    assert.equal(plain.choices[0].message.content, "Echo: hello big world");
    assert.deepEqual(plain.usage, { prompt_tokens: 3, completion_tokens: 3000, total_tokens: 3003 });
    const body = chatBody({ stream: true, stream_options: { include_usage: true } });
    const frames = sseData(await (await post(engine, "/v1/chat/completions", body)).text());
    const last = JSON.parse(frames.at(-2)!);
    assert.deepEqual(last.usage, { prompt_tokens: 3, completion_tokens: 3000, total_tokens: 3003 });
    engine.configure({ usageInflation: 1 });
    const honest = await (await post(engine, "/v1/chat/completions", chatBody())).json();
    assert.equal(honest.usage.completion_tokens, 4);
    assert.throws(() => engine.configure({ usageInflation: 0 }));
  });
});

Deno.test("test engine - truncates at max_tokens or max_completion_tokens with finish_reason length", async () => {
  await withEngine({}, async (engine) => {
    const plain = await (await post(engine, "/v1/chat/completions", chatBody({ max_tokens: 2 })))
      .json();
    assert.equal(plain.choices[0].message.content, "Echo: hello ");
    assert.equal(plain.choices[0].finish_reason, "length");
    assert.equal(plain.usage.completion_tokens, 2);
    const exact = chatBody({ max_completion_tokens: 4 });
    const full = await (await post(engine, "/v1/chat/completions", exact)).json();
    assert.equal(full.choices[0].finish_reason, "stop");
    const body = chatBody({ stream: true, max_tokens: 1 });
    const frames = sseData(await (await post(engine, "/v1/chat/completions", body)).text());
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f));
    assert.deepEqual(chunks.map((c) => c.choices[0].delta.content ?? null), ["", "Echo: ", null]);
    assert.equal(chunks.at(-1).choices[0].finish_reason, "length");
  });
});

Deno.test("test engine - returns deterministic unit-length embeddings", async () => {
  await withEngine({ embeddingDimensions: 12 }, async (engine) => {
    const embed = async (input: unknown, extra: Json = {}) =>
      await (await post(engine, "/v1/embeddings", { model: MODEL, input, ...extra })).json();
    const first = await embed(["hello world", "other", "hello world"]);
    assert.equal(first.object, "list");
    assert.equal(first.model, MODEL);
    assert.deepEqual(first.usage, { prompt_tokens: 5, total_tokens: 5 });
    const [a, b, c] = first.data.map((d: { embedding: number[] }) => d.embedding);
    assert.deepEqual(first.data.map((d: Json) => [d.object, d.index]), [
      ["embedding", 0],
      ["embedding", 1],
      ["embedding", 2],
    ]);
    assert.equal(a.length, 12);
    assert.ok(Math.abs(Math.hypot(...a) - 1) < 1e-6);
    assert.deepEqual(a, c);
    assert.notDeepEqual(a, b);
    assert.deepEqual((await embed("hello world")).data[0].embedding, a);
    assert.equal((await embed([[1, 2, 3], [4]])).usage.prompt_tokens, 4);
    assert.equal((await embed("x", { dimensions: 3 })).data[0].embedding.length, 3);
    const base64 = (await embed("hello world", { encoding_format: "base64" })).data[0].embedding;
    const bytes = Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
    assert.deepEqual(Array.from(new Float32Array(bytes.buffer)), a);
  });
});

Deno.test("test engine - rejects an unknown model with an OpenAI-shaped 404", async () => {
  await withEngine({}, async (engine) => {
    for (
      const [path, body] of [
        ["/v1/chat/completions", chatBody({ model: "nope" })],
        ["/v1/embeddings", { model: "nope", input: "x" }],
      ] as const
    ) {
      const res = await post(engine, path, body);
      assert.equal(res.status, 404);
      const { error } = await res.json();
      assert.equal(error.type, "invalid_request_error");
      assert.equal(error.param, "model");
      assert.equal(error.code, "model_not_found");
      assert.match(error.message, /nope/);
    }
  });
});

Deno.test("test engine - rejects bad JSON, empty messages and unknown paths with OpenAI errors", async () => {
  await withEngine({}, async (engine) => {
    const bad = await post(engine, "/v1/chat/completions", "{not json");
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.type, "invalid_request_error");
    const empty = await post(engine, "/v1/chat/completions", { model: MODEL, messages: [] });
    assert.equal(empty.status, 400);
    assert.equal((await empty.json()).error.param, "messages");
    const unknown = await fetch(engine.url + "/v1/nope");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers.get("x-infernet-engine"), "test");
    assert.deepEqual(await unknown.json(), {
      error: {
        message: "Invalid URL (GET /v1/nope)",
        type: "invalid_request_error",
        param: null,
        code: null,
      },
    });
  });
});

Deno.test("test engine - refuses with 503 engine_unavailable when told to refuse", async () => {
  const refused = {
    error: {
      message: "test engine refused the request",
      type: "server_error",
      param: null,
      code: "engine_unavailable",
    },
  };
  await withEngine({ failure: "refuse" }, async (engine) => {
    const res = await post(engine, "/v1/chat/completions", chatBody());
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), refused);
    const override = await post(engine, "/v1/chat/completions", chatBody(), {
      "x-test-failure": "none",
    });
    assert.equal(override.status, 200);
    await override.body?.cancel();
  });
  await withEngine({}, async (engine) => {
    const res = await post(engine, "/v1/embeddings", { model: MODEL, input: "x" }, {
      "x-test-failure": "refuse",
    });
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), refused);
  });
});

Deno.test("test engine - dies mid-stream after dieAfterTokens token chunks without [DONE]", async () => {
  await withEngine({ dieAfterTokens: 2 }, async (engine) => {
    const res = await post(engine, "/v1/chat/completions", chatBody({ stream: true }), {
      "x-test-failure": "die_mid_stream",
    });
    assert.equal(res.status, 200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const failure = await (async () => {
      try {
        for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
      } catch (err) {
        return err;
      }
    })();
    assert.ok(failure instanceof Error, "reading the body fails");
    const chunks = sseData(text).map((f) => JSON.parse(f));
    assert.deepEqual(chunks.map((c) => c.choices[0].delta.content), ["", "Echo: ", "hello "]);
    assert.ok(!text.includes("[DONE]"));
  });
});

Deno.test("test engine - cuts a non-stream response when told to die", async () => {
  await withEngine({ failure: "die_mid_stream" }, async (engine) => {
    const res = await post(engine, "/v1/chat/completions", chatBody());
    await assert.rejects(res.text());
  });
});

Deno.test("test engine - hangs a non-stream request until the client aborts and records the abort", async () => {
  await withEngine({ failure: "hang" }, async (engine) => {
    const ctrl = new AbortController();
    const pending = fetch(engine.url + "/v1/chat/completions", {
      method: "POST",
      headers: { "x-request-id": "hang-1" },
      body: JSON.stringify(chatBody()),
      signal: ctrl.signal,
    });
    await waitFor(() => engine.events.length === 1);
    ctrl.abort();
    await assert.rejects(pending, { name: "AbortError" });
    await waitFor(() => engine.events.length === 2);
    assert.deepEqual(engine.events.map((e) => [e.type, e.requestId]), [
      ["request", "hang-1"],
      ["abort", "hang-1"],
    ]);
  });
});

Deno.test("test engine - sends stream headers then nothing when hanging, and records the abort", async () => {
  await withEngine({}, async (engine) => {
    const ctrl = new AbortController();
    const res = await fetch(engine.url + "/v1/chat/completions", {
      method: "POST",
      headers: { "x-test-failure": "hang" },
      body: JSON.stringify(chatBody({ stream: true })),
      signal: ctrl.signal,
    });
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    ctrl.abort();
    await res.body?.cancel().catch(() => {});
    await waitFor(() => engine.events.some((e) => e.type === "abort"));
    assert.deepEqual(engine.events.map((e) => e.type), ["request", "abort"]);
  });
});

Deno.test("test engine - records an abort, not a completion, when a streaming client leaves early", async () => {
  await withEngine({ tokenDelayMs: 20 }, async (engine) => {
    const res = await post(engine, "/v1/chat/completions", chatBody({ stream: true }));
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await waitFor(() => engine.events.length === 2);
    assert.deepEqual(engine.events.map((e) => e.type), ["request", "abort"]);
  });
});

Deno.test("test engine - exposes events and config over HTTP", async () => {
  await withEngine({}, async (engine) => {
    const before = performance.timeOrigin + performance.now();
    const ok = await post(engine, "/v1/chat/completions", chatBody(), { "x-request-id": "r-1" });
    await ok.body?.cancel();
    const events = await (await fetch(engine.url + "/_test/events")).json();
    assert.deepEqual(events.map((e: Json) => [e.type, e.path, e.requestId]), [
      ["request", "/v1/chat/completions", "r-1"],
      ["complete", "/v1/chat/completions", "r-1"],
    ]);
    assert.ok(events[0].atMs >= before && events[1].atMs >= events[0].atMs);
    assert.equal((await post(engine, "/_test/events/clear", {})).status, 200);
    assert.deepEqual(engine.events, []);
    const config = await post(engine, "/_test/config", { failure: "refuse", tokenDelayMs: 5 });
    assert.equal((await config.json()).failure, "refuse");
    const refused = await post(engine, "/v1/chat/completions", chatBody());
    assert.equal(refused.status, 503);
    await refused.body?.cancel();
    const invalid = await post(engine, "/_test/config", { failure: "explode" });
    assert.equal(invalid.status, 400);
    assert.equal((await invalid.json()).error.param, "failure");
  });
});

Deno.test("test engine - handles requests without a port through the pure handler", async () => {
  const engine = createTestEngineHandler({ models: ["m"] });
  const res = await engine.handler(
    new Request("http://engine/v1/chat/completions", {
      method: "POST",
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }),
    }),
  );
  assert.equal(res.headers.get("x-infernet-engine"), "test");
  assert.equal((await res.json()).choices[0].message.content, "Echo: hi");
  engine.configure({ failure: "refuse" });
  const refused = await engine.handler(new Request("http://engine/v1/embeddings", { method: "POST" }));
  assert.equal(refused.status, 503);
  await refused.body?.cancel();
  assert.throws(() => engine.configure({ tokenDelayMs: -1 }));
});

Deno.test("test engine - pure handler records a client abort and releases hangs on abortAll", async () => {
  const engine = createTestEngineHandler({ failure: "hang" });
  const request = (signal?: AbortSignal) =>
    new Request("http://engine/v1/chat/completions", {
      method: "POST",
      body: JSON.stringify(chatBody()),
      signal,
    });
  const ctrl = new AbortController();
  const aborted = engine.handler(request(ctrl.signal));
  ctrl.abort();
  await (await aborted).body?.cancel();
  assert.deepEqual(engine.events.map((e) => e.type), ["request", "abort"]);
  const held = engine.handler(request());
  engine.abortAll();
  const res = await held;
  assert.equal(res.status, 503);
  await res.body?.cancel();
  assert.deepEqual(engine.events.map((e) => e.type), ["request", "abort", "request"]);
});

Deno.test("test engine - talks to the official openai SDK", async () => {
  await withEngine({}, async (engine) => {
    const client = new OpenAI({ baseURL: engine.url + "/v1", apiKey: "test", maxRetries: 0 });
    const messages = [{ role: "user" as const, content: "hi there" }];
    const completion = await client.chat.completions.create({ model: MODEL, messages });
    assert.equal(completion.choices[0].message.content, "Echo: hi there");
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      usage = chunk.usage ?? usage;
    }
    assert.equal(text, "Echo: hi there");
    assert.deepEqual(usage, { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
    const embedding = await client.embeddings.create({ model: MODEL, input: "hi" });
    const floats = await client.embeddings.create({
      model: MODEL,
      input: "hi",
      encoding_format: "float",
    });
    assert.deepEqual(embedding.data[0].embedding, floats.data[0].embedding);
    await assert.rejects(
      client.chat.completions.create({ model: "nope", messages }),
      (err) => err instanceof OpenAI.NotFoundError,
    );
  });
});

Deno.test("test engine - parses the launcher's command-line flags", () => {
  assert.deepEqual(
    parseEngineArgs([
      "--port",
      "8081",
      "--token-delay-ms",
      "10",
      "--no-usage",
      "--failure",
      "hang",
      "--model",
      "a",
      "--model",
      "b",
    ]),
    {
      port: 8081,
      hostname: undefined,
      tokenDelayMs: 10,
      usage: false,
      failure: "hang",
      models: ["a", "b"],
      lie: undefined,
    },
  );
  assert.equal(parseEngineArgs(["--lie", "truncate"]).lie, "truncate");
  assert.throws(() => parseEngineArgs(["--lie", "sometimes"]));
  assert.throws(() => parseEngineArgs(["--failure", "explode"]));
  assert.throws(() => parseEngineArgs(["--port", "x"]));
});

async function chatVia(engine: ReturnType<typeof createTestEngineHandler>, body: Json): Promise<Json> {
  const res = await engine.handler(
    new Request("http://engine.test/v1/chat/completions", { method: "POST", body: JSON.stringify(body) }),
  );
  assert.equal(res.status, 200);
  return await res.json();
}

const TEXT = "please repeat these eleven words back to me in the same order";

Deno.test("test engine - lies engine-wide: another model's words, a third of the answer, 10x usage", async () => {
  const honest = await chatVia(createTestEngineHandler(), chatBody({}, TEXT));
  const answer = (b: Json) => (b.choices as { message: { content: string } }[])[0].message.content;
  const finish = (b: Json) => (b.choices as { finish_reason: string }[])[0].finish_reason;
  const words = answer(honest).split(" ");
  assert.equal(words.length, 13);

  const other = await chatVia(createTestEngineHandler({ lie: "other_model" }), chatBody({}, TEXT));
  const otherWords = answer(other).split(" ");
  assert.equal(otherWords.length, words.length);
  assert.ok(otherWords.every((w, i) => w !== words[i]), answer(other));
  assert.equal(
    answer(await chatVia(createTestEngineHandler({ lie: "other_model" }), chatBody({}, TEXT))),
    answer(other),
  );

  const cut = await chatVia(
    createTestEngineHandler({ lie: "truncate" }),
    chatBody({ max_tokens: 100 }, TEXT),
  );
  assert.equal(answer(cut), words.slice(0, 5).join(" ") + " ");
  assert.equal(finish(cut), "stop");

  const engine = createTestEngineHandler();
  engine.configure({ lie: "inflate_usage" });
  const inflated = await chatVia(engine, chatBody({}, TEXT));
  assert.equal(answer(inflated), answer(honest));
  assert.deepEqual(inflated.usage, { prompt_tokens: 12, completion_tokens: 130, total_tokens: 142 });
  assert.throws(() => engine.configure({ lie: "fib" as never }));
});
