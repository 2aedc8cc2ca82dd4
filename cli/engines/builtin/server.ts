// The built-in engine's HTTP API, OpenAI-compatible: `GET /v1/models`, `POST /v1/chat/completions`
// (whole or streamed) and `POST /v1/embeddings`. A Request → Response handler, tested in-process;
// `serveBuiltinEngine` puts it on a local port for the daemon.
import { type ChatMessage, parseMessages } from "./chat_format.ts";
import { ChunkWriter, completionHead, completionObject, usageOf } from "./chat_stream.ts";
import { EngineError, errorResponse } from "./engine_error.ts";
import type { GenerateOptions, LlamaEngine } from "./llama_engine.ts";
import { CHAT_REQUEST_SCHEMA, compileSchema, isRecord } from "../../../shared/mod.ts";

/** `owned_by` on the models this engine lists; `cli/engines/detect.ts` knows it as "builtin". */
export const BUILTIN_OWNER = "infernet-builtin";

type Json = Record<string, unknown>;

interface ChatBody {
  messages: ChatMessage[];
  stream: boolean;
  includeUsage: boolean;
  generate: Omit<GenerateOptions, "signal" | "onText">;
}

function bad(message: string, param: string): EngineError {
  return new EngineError(400, message, { param });
}

function optionalNumber(body: Json, key: string, min: number, max: number): number | null {
  const v = body[key];
  if (v == null) return null;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
    throw bad(`${key} must be a number from ${min} to ${max}`, key);
  }
  return v;
}

function optionalInt(body: Json, key: string, min: number): number | null {
  const v = body[key];
  if (v == null) return null;
  if (!Number.isSafeInteger(v) || (v as number) < min) throw bad(`${key} must be an integer ≥ ${min}`, key);
  return v as number;
}

function parseStop(v: unknown): string[] {
  if (v == null) return [];
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length > 4 || !list.every((s) => typeof s === "string" && s !== "")) {
    throw bad("stop must be a non-empty string or an array of at most 4 of them", "stop");
  }
  return list;
}

/** The OpenAI request's shape, checked by the control plane's own compiled schema (shared/openai). */
const checkChatShape = compileSchema(CHAT_REQUEST_SCHEMA);

// The edge: the OpenAI shape by the shared schema, then the fields only this engine uses; fields it
// does not use are ignored. A request without `model` is for the one model served here.
function parseChatBody(body: Json, modelId: string): ChatBody {
  checkModel(body, modelId);
  const issue = checkChatShape(body.model == null ? { ...body, model: modelId } : body);
  if (issue) throw new EngineError(400, issue.message, { param: issue.param ?? undefined });
  if (optionalInt(body, "n", 1) !== null && body.n !== 1) {
    throw bad("this engine returns one choice: n must be 1", "n");
  }
  const streamOptions = body.stream_options as Json | null | undefined;
  const maxTokens = (body.max_completion_tokens ?? body.max_tokens ?? null) as number | null;
  return {
    messages: parseMessages(body.messages),
    stream: body.stream === true,
    includeUsage: streamOptions?.include_usage === true,
    generate: {
      maxTokens,
      temperature: optionalNumber(body, "temperature", 0, 2) ?? 1,
      topP: optionalNumber(body, "top_p", 0, 1),
      seed: optionalInt(body, "seed", Number.MIN_SAFE_INTEGER),
      stop: parseStop(body.stop),
    },
  };
}

function checkModel(body: Json, modelId: string): void {
  if (body.model != null && body.model !== modelId) {
    throw new EngineError(
      404,
      `model '${String(body.model)}' is not served here; this engine serves '${modelId}'`,
      {
        code: "model_not_found",
        param: "model",
      },
    );
  }
}

async function readJson(req: Request): Promise<Json> {
  let body: unknown;
  try {
    body = await req.json();
  } catch (err) {
    throw new EngineError(400, "the request body is not valid JSON", { cause: err });
  }
  if (!isRecord(body)) throw new EngineError(400, "the request body must be a JSON object");
  return body;
}

function listModels(engine: LlamaEngine): Response {
  const created = Math.floor(Date.now() / 1000);
  return Response.json({
    object: "list",
    data: [{
      id: engine.modelId,
      object: "model",
      created,
      owned_by: BUILTIN_OWNER,
      meta: { n_ctx: engine.contextSize, n_ctx_train: engine.model.trainContextSize },
    }],
  });
}

async function chatCompletions(engine: LlamaEngine, req: Request): Promise<Response> {
  const body = parseChatBody(await readJson(req), engine.modelId);
  const head = completionHead(engine.modelId);
  if (!body.stream) {
    const g = await engine.chat(body.messages, { ...body.generate, signal: req.signal });
    const usage = usageOf(g.promptTokens, g.completionTokens);
    return Response.json(completionObject(head, g.text, g.finishReason, usage));
  }
  // Streamed: the client's disconnect (request signal or a cancelled body) aborts the generation.
  const abort = new AbortController();
  const onGone = () => abort.abort();
  req.signal.addEventListener("abort", onGone, { once: true });
  const writer = new ChunkWriter(head, { includeUsage: body.includeUsage });
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (bytes: Uint8Array) => {
        if (!abort.signal.aborted) controller.enqueue(bytes);
      };
      send(writer.start());
      try {
        const g = await engine.chat(body.messages, {
          ...body.generate,
          signal: abort.signal,
          onText: (text) => send(writer.content(text)),
        });
        send(writer.finish(g.finishReason, usageOf(g.promptTokens, g.completionTokens)));
      } catch (err) {
        send(writer.error(err instanceof EngineError ? err.message : "the built-in engine failed"));
      } finally {
        req.signal.removeEventListener("abort", onGone);
        if (!abort.signal.aborted) controller.close();
      }
    },
    cancel: onGone,
  });
  return new Response(stream, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" },
  });
}

async function embeddings(engine: LlamaEngine, req: Request): Promise<Response> {
  const body = await readJson(req);
  checkModel(body, engine.modelId);
  const input = typeof body.input === "string" ? [body.input] : body.input;
  if (!Array.isArray(input) || input.length === 0 || !input.every((s) => typeof s === "string")) {
    throw bad("input must be a string or a non-empty array of strings", "input");
  }
  if (body.encoding_format != null && body.encoding_format !== "float") {
    throw bad("encoding_format must be 'float'", "encoding_format");
  }
  const { vectors, promptTokens } = await engine.embed(input);
  return Response.json({
    object: "list",
    data: vectors.map((embedding, index) => ({ object: "embedding", index, embedding })),
    model: engine.modelId,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  });
}

/** The engine's Request → Response handler. */
export function builtinEngineHandler(engine: LlamaEngine): (req: Request) => Promise<Response> {
  return async (req) => {
    const { pathname } = new URL(req.url);
    try {
      if (pathname === "/v1/models" && req.method === "GET") return listModels(engine);
      if (pathname === "/v1/chat/completions" && req.method === "POST") {
        return await chatCompletions(engine, req);
      }
      if (pathname === "/v1/embeddings" && req.method === "POST") return await embeddings(engine, req);
      throw new EngineError(404, `${req.method} ${pathname} is not served here`, { code: "not_found" });
    } catch (err) {
      return errorResponse(err);
    }
  };
}

/** The engine on a local port. */
export interface BuiltinServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serves the engine on `hostname:port` (default 127.0.0.1, a free port); `close` also frees the model. */
export function serveBuiltinEngine(
  engine: LlamaEngine,
  opts: { hostname?: string; port?: number } = {},
): BuiltinServer {
  const server = Deno.serve({
    hostname: opts.hostname ?? "127.0.0.1",
    port: opts.port ?? 0,
    onListen: () => {},
  }, builtinEngineHandler(engine));
  const { hostname, port } = server.addr;
  return {
    url: `http://${hostname}:${port}`,
    port,
    async close() {
      await server.shutdown();
      await engine.close();
    },
  };
}
