// Real llama.cpp inference on a generated tiny model: the text is noise, so the tests assert on
// structure — counts, limits, determinism, framing, abort.
import { deepStrictEqual as assertEquals, equal, notEqual, ok } from "node:assert/strict";
import { createParser } from "eventsource-parser";
import type { Generation, LlamaEngineOptions } from "./llama_engine.ts";
import { LlamaEngine } from "./llama_engine.ts";
import { BUILTIN_OWNER, builtinEngineHandler, serveBuiltinEngine } from "./server.ts";
import { writeTinyGguf } from "./tiny_gguf.ts";
import { sleep } from "../../../shared/mod.ts";

// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

async function withEngine(
  fn: (call: (path: string, body?: unknown) => Promise<Response>, engine: LlamaEngine) => Promise<void>,
  opts: Partial<LlamaEngineOptions> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const engine = await LlamaEngine.load({ modelPath: await writeTinyGguf(`${dir}/tiny.gguf`), ...opts });
  const handler = builtinEngineHandler(engine);
  const call = (path: string, body?: unknown) =>
    handler(
      new Request(
        `http://engine${path}`,
        body === undefined ? {} : {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: typeof body === "string" ? body : JSON.stringify(body),
        },
      ),
    );
  try {
    await fn(call, engine);
  } finally {
    await engine.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const chat = (extra: Json = {}) => ({
  model: "tiny",
  messages: [{ role: "user", content: "hello" }],
  ...extra,
});

async function sseEvents(res: Response): Promise<unknown[]> {
  const events: unknown[] = [];
  const parser = createParser({
    onEvent: (e) => events.push(e.data === "[DONE]" ? "[DONE]" : JSON.parse(e.data)),
  });
  for await (const piece of res.body!.pipeThrough(new TextDecoderStream())) parser.feed(piece);
  return events;
}

Deno.test("builtin engine - lists its one model as the built-in engine's, with its context", async () => {
  await withEngine(async (call) => {
    const body = await (await call("/v1/models")).json();
    equal(body.data.length, 1);
    assertEquals(body.data[0].id, "tiny");
    equal(body.data[0].owned_by, BUILTIN_OWNER);
    equal(body.data[0].meta.n_ctx, 2048);
  });
});

Deno.test("builtin engine - a whole answer stops at max_tokens, with usage counting what it returned", async () => {
  await withEngine(async (call) => {
    const res = await call("/v1/chat/completions", chat({ max_tokens: 12, temperature: 0 }));
    equal(res.status, 200);
    const body = await res.json();
    equal(body.object, "chat.completion");
    equal(body.choices[0].finish_reason, "length");
    equal(body.usage.completion_tokens, 12);
    ok(body.usage.prompt_tokens > 5);
    equal(body.usage.total_tokens, body.usage.prompt_tokens + 12);
    // The tiny model speaks printable ASCII, one character per token.
    equal(body.choices[0].message.content.length, 12);
  });
});

Deno.test("builtin engine - temperature 0 and a fixed seed give the same text; another seed another", async () => {
  await withEngine(async (call) => {
    const text = async (extra: Json) =>
      (await (await call("/v1/chat/completions", chat({ max_tokens: 24, ...extra }))).json()).choices[0]
        .message.content;
    equal(await text({ temperature: 0 }), await text({ temperature: 0 }));
    const seeded = await text({ temperature: 1, seed: 7 });
    equal(await text({ temperature: 1, seed: 7 }), seeded);
    notEqual(await text({ temperature: 1, seed: 8 }), seeded);
  });
});

Deno.test("builtin engine - a stream is framed as OpenAI's, and its usage chunk counts what was streamed", async () => {
  await withEngine(async (call) => {
    const whole = await (await call("/v1/chat/completions", chat({ max_tokens: 16, temperature: 0 }))).json();
    const res = await call(
      "/v1/chat/completions",
      chat({ max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true } }),
    );
    equal(res.headers.get("content-type"), "text/event-stream");
    const events = await sseEvents(res) as Json[];
    equal(events.at(-1), "[DONE]");
    const chunks = events.slice(0, -1);
    assertEquals(chunks[0].choices[0].delta, { role: "assistant", content: "" });
    ok(chunks.every((c) => c.object === "chat.completion.chunk" && c.id === chunks[0].id));
    const content = chunks.flatMap((c) => c.choices.map((ch: Json) => ch.delta.content ?? "")).join("");
    equal(content, whole.choices[0].message.content);
    const finish = chunks.at(-2)!;
    equal(finish.choices[0].finish_reason, "length");
    const usage = chunks.at(-1)!;
    assertEquals(usage.choices, []);
    assertEquals(usage.usage, whole.usage);
    equal(usage.usage.completion_tokens, content.length);
  });
});

Deno.test("builtin engine - a stop sequence ends the answer before it, finish_reason stop", async () => {
  await withEngine(async (call) => {
    const text = (await (await call("/v1/chat/completions", chat({ max_tokens: 30, temperature: 0 }))).json())
      .choices[0].message.content as string;
    const stop = text.slice(10, 13);
    const body =
      await (await call("/v1/chat/completions", chat({ max_tokens: 30, temperature: 0, stop: [stop] })))
        .json();
    equal(body.choices[0].finish_reason, "stop");
    equal(body.choices[0].message.content, text.slice(0, text.indexOf(stop)));
  });
});

Deno.test("builtin engine - a client that goes away stops the generation", async () => {
  await withEngine(async (_call, engine) => {
    const results: Generation[] = [];
    const spy = Object.assign(Object.create(null), {
      modelId: engine.modelId,
      chat: async (...args: Parameters<LlamaEngine["chat"]>) => {
        const g = await engine.chat(...args);
        results.push(g);
        return g;
      },
    }) as LlamaEngine;
    const res = await builtinEngineHandler(spy)(
      new Request("http://engine/v1/chat/completions", {
        method: "POST",
        body: JSON.stringify(chat({ stream: true })),
      }),
    );
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    const deadline = Date.now() + 5000;
    while (results.length === 0 && Date.now() < deadline) await sleep(10);
    equal(results.length, 1);
    equal(results[0].aborted, true);
    ok(results[0].completionTokens < 100, `generated ${results[0].completionTokens} tokens after the abort`);
  });
});

Deno.test("builtin engine - embeddings: one vector per input, or a clear 400 when turned off", async () => {
  await withEngine(async (call) => {
    const res = await call("/v1/embeddings", { model: "tiny", input: ["a", "bc"] });
    equal(res.status, 200);
    const body = await res.json();
    equal(body.data.length, 2);
    equal(body.data[1].index, 1);
    equal(body.data[0].embedding.length, 64);
    ok(body.usage.prompt_tokens >= 3);
  });
  await withEngine(async (call) => {
    const res = await call("/v1/embeddings", { model: "tiny", input: "a" });
    equal(res.status, 400);
    equal((await res.json()).error.code, "embeddings_not_supported");
  }, { embeddings: false });
});

Deno.test("builtin engine - bad requests get OpenAI's error JSON", async () => {
  await withEngine(async (call) => {
    const error = async (path: string, body: unknown) => {
      const res = await call(path, body);
      return { status: res.status, ...(await res.json()).error };
    };
    const notJson = await error("/v1/chat/completions", "{");
    equal(notJson.status, 400);
    equal(notJson.type, "invalid_request_error");
    equal((await error("/v1/chat/completions", chat({ model: "other" }))).code, "model_not_found");
    equal((await error("/v1/chat/completions", chat({ n: 2 }))).param, "n");
    equal((await error("/v1/chat/completions", chat({ max_tokens: 0 }))).param, "max_tokens");
    // The OpenAI shape is the control plane's own schema (shared/openai), messages and all.
    const stream = await error("/v1/chat/completions", chat({ stream: "yes" }));
    equal(stream.param, "stream");
    equal(stream.message, "stream must be a boolean");
    equal(
      (await error("/v1/chat/completions", chat({ messages: [] }))).message,
      "messages must be a non-empty array",
    );
    equal((await error("/v1/chat/completions", chat({ messages: ["hi"] }))).param, "messages[0]");
    equal((await error("/v1/chat/completions", { messages: [{ role: "robot", content: "x" }] })).status, 400);
    equal((await error("/v1/nope", {})).status, 404);
    const long = await error(
      "/v1/chat/completions",
      chat({ messages: [{ role: "user", content: "x".repeat(3000) }] }),
    );
    equal(long.code, "context_length_exceeded");
  });
});

Deno.test("builtin engine - serves over HTTP on a free local port", async () => {
  const dir = await Deno.makeTempDir();
  const engine = await LlamaEngine.load({ modelPath: await writeTinyGguf(`${dir}/m.gguf`) });
  const server = serveBuiltinEngine(engine);
  try {
    ok(server.url.startsWith("http://127.0.0.1:"));
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], max_tokens: 3 }),
    });
    equal((await res.json()).usage.completion_tokens, 3);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
