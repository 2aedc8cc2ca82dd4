// A deterministic OpenAI-compatible test engine standing in for Ollama/vLLM in end-to-end tests and
// the dev launcher. Wire formats: https://platform.openai.com/docs/api-reference/chat/object
import { isRecord, sleep } from "../shared/mod.ts";

/** How the engine misbehaves: engine-wide via options, or per request via `x-test-failure`. */
export type TestEngineFailure = "none" | "refuse" | "die_mid_stream" | "hang";

/**
 * How the engine lies while answering normally: `other_model` answers with another model's text
 * (other words, deterministically), `truncate` cuts every answer to about a third and still says
 * `finish_reason: "stop"`, `inflate_usage` reports 10× the completion tokens it produced.
 */
export type TestEngineLie = "none" | "other_model" | "truncate" | "inflate_usage";

/** Options for the test engine; every field has a default. */
export interface TestEngineOptions {
  hostname?: string;
  port?: number;
  models?: string[];
  tokenDelayMs?: number;
  usage?: boolean;
  failure?: TestEngineFailure;
  dieAfterTokens?: number;
  embeddingDimensions?: number;
  /**
   * The models' context window, in the engine's tokens (words): listed as vLLM lists it
   * (`max_model_len` in /v1/models), and a chat prompt longer than it is refused with a 400, as
   * vLLM refuses one. Unset: no window listed or enforced.
   */
  contextLength?: number;
  /**
   * A lying node's factor on the completion tokens it reports in `usage` (1: honest). The text
   * served is unchanged, so the control plane's own count disagrees.
   */
  usageInflation?: number;
  /** Engine-wide lie (default "none"): what verification must catch. */
  lie?: TestEngineLie;
}

/** The options that can be changed while the engine runs. */
export type TestEngineConfig = Partial<
  Pick<TestEngineOptions, "tokenDelayMs" | "usage" | "failure" | "dieAfterTokens" | "usageInflation" | "lie">
>;

/** A lifecycle event of one inference request; `atMs` is epoch milliseconds (fractional). */
export interface TestEngineEvent {
  type: "request" | "complete" | "abort";
  path: string;
  requestId: string;
  atMs: number;
  /** On "request" events: the top-level fields of the JSON body, sorted (what the engine was sent). */
  fields?: string[];
  /** On "request" events: the body's `max_tokens`, when it is a number (the limit the engine would use). */
  maxTokens?: number;
}

/** A port-less test engine: a pure Request → Response handler plus its event log. */
export interface TestEngineHandler {
  handler: (req: Request) => Promise<Response>;
  events: TestEngineEvent[];
  configure(opts: TestEngineConfig): void;
  /** Ends every in-flight request (hanging ones included) without recording events. */
  abortAll(): void;
}

/** A running test engine listening on `url`. */
export interface TestEngine {
  url: string;
  port: number;
  events: TestEngineEvent[];
  configure(opts: TestEngineConfig): void;
  close(): Promise<void>;
}

/** The failure modes the engine understands. */
export const TEST_ENGINE_FAILURES: readonly TestEngineFailure[] = [
  "none",
  "refuse",
  "die_mid_stream",
  "hang",
];

/** The lies the engine can tell. */
export const TEST_ENGINE_LIES: readonly TestEngineLie[] = [
  "none",
  "other_model",
  "truncate",
  "inflate_usage",
];

/** A failure the engine causes on purpose (a cut stream); Deno.serve's onError stays quiet for it. */
export class TestEngineDeath extends Error {}

type Json = Record<string, unknown>;
type Config = Required<TestEngineConfig>;
type Tracker = {
  signal: AbortSignal;
  complete(): void;
  abort(): void;
  settle(): void;
  noteFields(body: Json): void;
};
type Plan = { head: Json; tokens: string[]; finishReason: string; usage: Json | null };
type Ctx = { req: Request; body: Json; cfg: Config; failure: TestEngineFailure; tracker: Tracker };

const encoder = new TextEncoder();
const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
const isFailure = (v: unknown) => TEST_ENGINE_FAILURES.includes(v as TestEngineFailure);
const isLie = (v: unknown) => TEST_ENGINE_LIES.includes(v as TestEngineLie);
const CONFIG_CHECKS: Record<keyof Config, [(v: unknown) => boolean, string]> = {
  tokenDelayMs: [isCount, "a non-negative integer"],
  dieAfterTokens: [isCount, "a non-negative integer"],
  usage: [(v) => typeof v === "boolean", "a boolean"],
  failure: [isFailure, `one of ${TEST_ENGINE_FAILURES.join(", ")}`],
  usageInflation: [(v) => isCount(v) && (v as number) > 0, "a positive integer"],
  lie: [isLie, `one of ${TEST_ENGINE_LIES.join(", ")}`],
};

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type = status >= 500 ? "server_error" : "invalid_request_error",
  ) {
    super(message);
  }
}

function jsonResponse(body: unknown, status = 200): Response {
  const headers = { "content-type": "application/json" };
  return new Response(JSON.stringify(body), { status, headers });
}

function errorResponse(e: ApiError): Response {
  const { message, type, param, code } = e;
  return jsonResponse({ error: { message, type, param, code } }, e.status);
}

const refusal = () => new ApiError(503, "test engine refused the request", null, "engine_unavailable");

/** Logs the request and records its outcome once; `signal` aborts when the client or engine leaves. */
function track(events: TestEngineEvent[], req: Request, engine: AbortSignal): Tracker {
  const path = new URL(req.url).pathname;
  const requestId = req.headers.get("x-request-id") ?? crypto.randomUUID();
  const push = (type: TestEngineEvent["type"]) => {
    const event: TestEngineEvent = {
      type,
      path,
      requestId,
      atMs: performance.timeOrigin + performance.now(),
    };
    events.push(event);
    return event;
  };
  const requestEvent = push("request");
  const ctrl = new AbortController();
  let settled = false;
  const finish = (type: TestEngineEvent["type"] | null, why?: string) => {
    if (!settled && type) push(type);
    settled = true;
    engine.removeEventListener("abort", onEngineClose);
    if (why) ctrl.abort(new TestEngineDeath(why));
  };
  const onEngineClose = () => finish(null, "test engine closed");
  engine.addEventListener("abort", onEngineClose, { once: true });
  if (engine.aborted) onEngineClose();
  return {
    signal: ctrl.signal,
    complete: () => finish("complete"),
    abort: () => finish("abort", "client went away"),
    settle: () => finish(null),
    noteFields: (body) => {
      requestEvent.fields = Object.keys(body).sort();
      if (typeof body.max_tokens === "number") requestEvent.maxTokens = body.max_tokens;
    },
  };
}

/** Holds a non-stream request until the client leaves (seen via req.signal) or the engine closes. */
async function hold(ctx: Ctx): Promise<Response> {
  const { req, tracker } = ctx;
  const onAbort = () => tracker.abort();
  req.signal.addEventListener("abort", onAbort, { once: true });
  if (req.signal.aborted) onAbort();
  await sleep(Infinity, { signal: tracker.signal }).catch(() => {});
  req.signal.removeEventListener("abort", onAbort);
  return errorResponse(refusal());
}

/** Streams frames from a generator; a throw errors the body, which cuts the connection. */
function streamBody(frames: AsyncGenerator<string>, tracker: Tracker): ReadableStream<Uint8Array> {
  return new ReadableStream({
    async pull(ctrl) {
      try {
        const next = await frames.next();
        if (next.done) {
          tracker.complete();
          ctrl.close();
        } else ctrl.enqueue(encoder.encode(next.value));
      } catch (err) {
        tracker.settle();
        ctrl.error(err);
      }
    },
    cancel: () => tracker.abort(),
  });
}

async function* brokenJson(): AsyncGenerator<string> {
  yield '{"object":';
  throw new TestEngineDeath("test engine died mid-response");
}

/** Applies a non-stream failure mode; null means serve the request normally. */
function failNonStream(ctx: Ctx): Promise<Response> | Response | null {
  if (ctx.failure === "hang") return hold(ctx);
  if (ctx.failure !== "die_mid_stream") return null;
  const headers = { "content-type": "application/json" };
  return new Response(streamBody(brokenJson(), ctx.tracker), { headers });
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  const isText = (p: unknown): p is Json =>
    typeof p === "object" && p !== null && (p as Json).type === "text";
  return content.filter(isText).map((p) => String(p.text ?? "")).join(" ");
}

const countWords = (text: string) => text.split(/\s+/).filter(Boolean).length;

/** Splits text into words that keep their following whitespace, so joining them reproduces it. */
export function splitTokens(text: string): string[] {
  return text.match(/\s*\S+\s*/gy) ?? [];
}

// The words a smaller model would answer with instead: plain English, none of the echo's own.
const OTHER_WORDS = [
  "the",
  "weather",
  "today",
  "is",
  "quite",
  "pleasant",
  "and",
  "many",
  "people",
  "enjoy",
  "walking",
  "outside",
  "near",
  "river",
  "while",
  "birds",
  "sing",
  "softly",
  "over",
  "green",
  "hills",
];

/** An answer after the engine's lie; `other_model` swaps each word for another, by position. */
function lieAbout(tokens: string[], lie: TestEngineLie): string[] {
  if (lie === "truncate") return tokens.slice(0, Math.max(1, Math.ceil(tokens.length / 3)));
  if (lie !== "other_model") return tokens;
  return tokens.map((token, i) => {
    const word = token.trim();
    let other = OTHER_WORDS[(word.length * 7 + i * 3) % OTHER_WORDS.length];
    if (other === word.toLowerCase()) other = OTHER_WORDS[(i + 1) % OTHER_WORDS.length];
    return token.replace(word, other);
  });
}

function positiveInt(body: Json, key: string): number | null {
  const v = body[key];
  if (v === undefined || v === null) return null;
  if (isCount(v) && (v as number) > 0) return v as number;
  throw new ApiError(400, `'${key}' must be a positive integer`, key, "invalid_value");
}

function checkModel(body: Json, models: string[]): string {
  if (typeof body.model === "string" && models.includes(body.model)) return body.model;
  const msg = `The model \`${String(body.model)}\` does not exist or you do not have access to it.`;
  throw new ApiError(404, msg, "model", "model_not_found");
}

function chat(ctx: Ctx, models: string[], contextLength: number | null): Response | Promise<Response> {
  const { body, cfg } = ctx;
  const model = checkModel(body, models);
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw new ApiError(400, "'messages' must be a non-empty array", "messages", "invalid_value");
  }
  const msgs = body.messages.filter((m): m is Json => typeof m === "object" && m !== null);
  const all = splitTokens("Echo: " + textOf(msgs.findLast((m) => m.role === "user")?.content));
  const max = positiveInt(body, "max_completion_tokens") ?? positiveInt(body, "max_tokens");
  const honest = all.slice(0, max ?? all.length);
  const tokens = lieAbout(honest, cfg.lie);
  const finishReason = cfg.lie === "truncate" || honest.length === all.length ? "stop" : "length";
  const prompt = msgs.reduce((n, m) => n + countWords(textOf(m.content)), 0);
  if (contextLength !== null && prompt > contextLength) {
    const msg = `This model's maximum context length is ${contextLength} tokens. However, your ` +
      `messages resulted in ${prompt} tokens. Please reduce the length of the messages.`;
    throw new ApiError(400, msg, "messages", "context_length_exceeded");
  }
  const n = tokens.length * cfg.usageInflation * (cfg.lie === "inflate_usage" ? 10 : 1);
  const usage = { prompt_tokens: prompt, completion_tokens: n, total_tokens: prompt + n };
  const id = "chatcmpl-" + crypto.randomUUID().replaceAll("-", "");
  const head = { id, created: Math.floor(Date.now() / 1000), model };
  if (body.stream === true) {
    const withUsage = cfg.usage && (body.stream_options as Json | null)?.include_usage === true;
    const frames = chatFrames(ctx, { head, tokens, finishReason, usage: withUsage ? usage : null });
    const headers = { "content-type": "text/event-stream", "cache-control": "no-cache" };
    return new Response(streamBody(frames, ctx.tracker), { headers });
  }
  const failed = failNonStream(ctx);
  if (failed) return failed;
  const message = { role: "assistant", content: tokens.join("") };
  const choices = [{ index: 0, message, logprobs: null, finish_reason: finishReason }];
  const completion = { ...head, object: "chat.completion", choices };
  ctx.tracker.complete();
  return jsonResponse(cfg.usage ? { ...completion, usage } : completion);
}

async function* chatFrames(ctx: Ctx, plan: Plan): AsyncGenerator<string> {
  const { cfg, failure, tracker } = ctx;
  const { head, tokens, finishReason, usage } = plan;
  const frame = (choices: unknown[], extra: Json) =>
    `data: ${JSON.stringify({ ...head, object: "chat.completion.chunk", choices, ...extra })}\n\n`;
  const usageNull = usage ? { usage: null } : {};
  const chunk = (delta: Json, finish: string | null) =>
    frame([{ index: 0, delta, logprobs: null, finish_reason: finish }], usageNull);
  if (failure === "hang") await sleep(Infinity, { signal: tracker.signal });
  yield chunk({ role: "assistant", content: "" }, null);
  for (const [i, token] of tokens.entries()) {
    if (failure === "die_mid_stream" && i >= cfg.dieAfterTokens) break;
    if (i > 0 && cfg.tokenDelayMs > 0) await sleep(cfg.tokenDelayMs, { signal: tracker.signal });
    yield chunk({ content: token }, null);
  }
  if (failure === "die_mid_stream") throw new TestEngineDeath("test engine died mid-stream");
  yield chunk({}, finishReason);
  if (usage) yield frame([], { usage });
  yield "data: [DONE]\n\n";
}

function readInputs(input: unknown): (string | number[])[] {
  const isTokens = (x: unknown): x is number[] => Array.isArray(x) && x.length > 0 && x.every(isCount);
  if (typeof input === "string" || isTokens(input)) return [input];
  const ok = Array.isArray(input) && input.length > 0 &&
    (input.every((x) => typeof x === "string") || input.every(isTokens));
  if (ok) return input;
  throw new ApiError(400, "'input' must be a string or an array of strings/token arrays", "input");
}

/** A deterministic unit vector of `dims` float32 values derived from sha256 of the input. */
async function embedVector(input: string | number[], dims: number): Promise<number[]> {
  const key = typeof input === "string" ? "text:" + input : "tokens:" + input.join(",");
  const raw: number[] = [];
  for (let block = 0; raw.length < dims; block++) {
    const digest = await crypto.subtle.digest("SHA-256", encoder.encode(`${key}#${block}`));
    for (const word of new Uint32Array(digest)) raw.push((word / 0xffffffff) * 2 - 1);
  }
  const vec = raw.slice(0, dims);
  const norm = Math.hypot(...vec) || 1;
  return vec.map((x) => Math.fround(x / norm));
}

function toBase64(vec: number[]): string {
  const bytes = new Uint8Array(new Float32Array(vec).buffer);
  return btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
}

async function embeddings(ctx: Ctx, models: string[], defaultDims: number): Promise<Response> {
  const { body } = ctx;
  const model = checkModel(body, models);
  const inputs = readInputs(body.input);
  const dims = positiveInt(body, "dimensions") ?? defaultDims;
  const format = body.encoding_format ?? "float";
  if (format !== "float" && format !== "base64") {
    throw new ApiError(400, "'encoding_format' must be 'float' or 'base64'", "encoding_format");
  }
  const failed = failNonStream(ctx);
  if (failed) return failed;
  const data = await Promise.all(inputs.map(async (input, index) => {
    const vec = await embedVector(input, dims);
    return { object: "embedding", index, embedding: format === "base64" ? toBase64(vec) : vec };
  }));
  const n = inputs.reduce((sum, x) => sum + (typeof x === "string" ? countWords(x) : x.length), 0);
  ctx.tracker.complete();
  return jsonResponse({
    object: "list",
    data,
    model,
    usage: { prompt_tokens: n, total_tokens: n },
  });
}

function modelObject(id: string, contextLength: number | null): Json {
  const listed = { id, object: "model", created: 1_700_000_000, owned_by: "infernet-test-engine" };
  return contextLength === null ? listed : { ...listed, max_model_len: contextLength };
}

function applyConfig(cfg: Config, patch: unknown): void {
  if (typeof patch !== "object" || patch === null) {
    throw new ApiError(400, "config is not an object");
  }
  const p = patch as Json;
  for (const [key, [ok, what]] of Object.entries(CONFIG_CHECKS)) {
    if (p[key] !== undefined && !ok(p[key])) throw new ApiError(400, `${key} must be ${what}`, key);
  }
  for (const key of Object.keys(CONFIG_CHECKS) as (keyof Config)[]) {
    if (p[key] !== undefined) Object.assign(cfg, { [key]: p[key] });
  }
}

async function readJson(req: Request): Promise<Json> {
  const body: unknown = await req.json().catch(() => null);
  if (isRecord(body)) return body;
  throw new ApiError(400, "We could not parse the JSON body of your request.");
}

function failureFor(req: Request, cfg: Config): TestEngineFailure {
  const header = req.headers.get("x-test-failure");
  if (header === null) return cfg.failure;
  if (isFailure(header)) return header as TestEngineFailure;
  throw new ApiError(400, `x-test-failure must be ${CONFIG_CHECKS.failure[1]}`, "x-test-failure");
}

/** Creates the engine as a pure Request → Response handler, testable without a port. */
export function createTestEngineHandler(opts: TestEngineOptions = {}): TestEngineHandler {
  const models = opts.models?.length ? [...opts.models] : ["infernet-test-echo"];
  const dims = opts.embeddingDimensions ?? 8;
  const contextLength = opts.contextLength ?? null;
  const cfg: Config = {
    tokenDelayMs: 0,
    usage: true,
    failure: "none",
    dieAfterTokens: 3,
    usageInflation: 1,
    lie: "none",
  };
  applyConfig(cfg, opts);
  const events: TestEngineEvent[] = [];
  const closing = new AbortController();
  const inference = async (req: Request, path: string) => {
    const tracker = track(events, req, closing.signal);
    try {
      const ctx: Ctx = { req, body: {}, cfg: { ...cfg }, failure: failureFor(req, cfg), tracker };
      if (ctx.failure === "refuse") throw refusal();
      ctx.body = await readJson(req);
      tracker.noteFields(ctx.body);
      const isChat = path === "/v1/chat/completions";
      return await (isChat ? chat(ctx, models, contextLength) : embeddings(ctx, models, dims));
    } catch (err) {
      tracker.complete();
      throw err;
    }
  };
  const route = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    switch (`${req.method} ${path}`) {
      case "GET /v1/models":
        return jsonResponse({ object: "list", data: models.map((id) => modelObject(id, contextLength)) });
      case "POST /v1/chat/completions":
      case "POST /v1/embeddings":
        return await inference(req, path);
      case "GET /_test/events":
        return jsonResponse(events);
      case "POST /_test/events/clear":
        events.length = 0;
        return jsonResponse({ ok: true });
      case "POST /_test/config":
        applyConfig(cfg, await readJson(req));
        return jsonResponse(cfg);
      case "GET /_test/config":
        return jsonResponse(cfg);
    }
    throw new ApiError(404, `Invalid URL (${req.method} ${path})`);
  };
  const handler = async (req: Request): Promise<Response> => {
    const res = await route(req).catch((err) =>
      errorResponse(err instanceof ApiError ? err : new ApiError(500, String(err)))
    );
    res.headers.set("x-infernet-engine", "test");
    return res;
  };
  const configure = (patch: TestEngineConfig) => applyConfig(cfg, patch);
  return { handler, events, configure, abortAll: () => closing.abort() };
}

/** Starts the test engine with Deno.serve on hostname:port (default 127.0.0.1, ephemeral port). */
export function startTestEngine(opts: TestEngineOptions = {}): Promise<TestEngine> {
  const engine = createTestEngineHandler(opts);
  const onError = (err: unknown) => {
    // An engine bug (not an injected failure) must not vanish silently.
    if (!(err instanceof TestEngineDeath)) console.error(err);
    return errorResponse(new ApiError(500, "test engine error"));
  };
  const hostname = opts.hostname ?? "127.0.0.1";
  const port = opts.port ?? 0;
  const server = Deno.serve({ hostname, port, onListen() {}, onError }, engine.handler);
  const host = server.addr.hostname;
  return Promise.resolve({
    url: `http://${host.includes(":") ? `[${host}]` : host}:${server.addr.port}`,
    port: server.addr.port,
    events: engine.events,
    configure: engine.configure,
    close: async () => {
      engine.abortAll();
      await server.shutdown();
    },
  });
}
