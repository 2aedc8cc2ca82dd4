// Finds the local inference engine — `--engine-url`, else the standard ports (Ollama 11434,
// vLLM 8000, SGLang 30000, llama.cpp 8080) — and lists the models it serves. Engines are told
// apart by what they say about themselves: Ollama's `/api/tags`, and the `owned_by` that vLLM,
// SGLang and llama.cpp write on every `/v1/models` entry. Every request has a timeout, and every
// response body is read or cancelled, so a probe never hangs and never leaks a connection.
import { isRecord, type Quantization } from "../../shared/mod.ts";
import { quantizationOfLevel } from "./quantization.ts";

/** The engines the daemon knows; "openai" is any other OpenAI-compatible server. */
export type EngineKind = "ollama" | "vllm" | "sglang" | "llamacpp" | "openai" | "test" | "builtin";

/** One model an engine serves; contextLength is null when the engine does not say. */
export interface EngineModel {
  id: string;
  contextLength: number | null;
  /** How its weights are quantized, when the engine says in a way we read (Ollama's tags). */
  quantization?: Quantization;
}

/** An engine that answered, with its models. */
export interface DetectedEngine {
  kind: EngineKind;
  /** Base URL without the trailing `/v1`. */
  baseUrl: string;
  models: EngineModel[];
}

/** Options of `probeEngine`; kindHint names the engine to assume when the server does not say. */
export interface ProbeOptions {
  fetch?: typeof fetch;
  timeoutMs?: number;
  kindHint?: EngineKind;
}

/** Options of `detectEngine`; without engineUrl it scans the standard ports on hostname. */
export interface DetectEngineOptions {
  engineUrl?: string;
  hostname?: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** The standard ports, in order of preference. */
export const STANDARD_ENGINES: readonly { port: number; kind: EngineKind }[] = [
  { port: 11434, kind: "ollama" },
  { port: 8000, kind: "vllm" },
  { port: 30000, kind: "sglang" },
  { port: 8080, kind: "llamacpp" },
];

/** How long one probe request may take, body included. */
export const DEFAULT_PROBE_TIMEOUT_MS = 500;

// The `owned_by` each engine writes on its own models (OpenAI's own API says "openai" or
// "system", and Ollama the model's namespace, so only these are taken as the server's name).
const OWNERS: Readonly<Record<string, EngineKind>> = {
  "infernet-test-engine": "test",
  "infernet-builtin": "builtin",
  vllm: "vllm",
  sglang: "sglang",
  llamacpp: "llamacpp",
};

type Json = Record<string, unknown>;

interface JsonReply {
  body: unknown;
  headers: Headers;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// GET a URL as JSON: null on any failure, a non-2xx status or the timeout (which covers the body).
async function getJson(url: string, fetchFn: typeof fetch, timeoutMs: number): Promise<JsonReply | null> {
  let res: Response | undefined;
  try {
    res = await fetchFn(url, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return null;
    return { body: parseJson(await res.text()), headers: res.headers };
  } catch {
    return null;
  } finally {
    if (res?.body && !res.bodyUsed) await res.body.cancel().catch(() => {});
  }
}

/** Strips trailing slashes and a trailing `/v1`; null when `url` is not an http(s) URL. */
export function normalizeBaseUrl(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return null;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return null;
  const path = parsed.pathname.replace(/\/+$/, "").replace(/\/v1$/, "");
  return `${parsed.origin}${path}`;
}

function positiveInt(value: unknown): number | null {
  return Number.isSafeInteger(value) && (value as number) > 0 ? value as number : null;
}

/** The context length an OpenAI `/v1/models` entry states (vLLM, SGLang, llama.cpp), or null. */
export function contextLengthOf(entry: Json): number | null {
  const meta = isRecord(entry.meta) ? entry.meta : {};
  // llama.cpp's meta.n_ctx is the window it serves; n_ctx_train only what the model was trained on.
  for (const value of [entry.max_model_len, entry.context_length, meta.n_ctx, meta.n_ctx_train]) {
    const n = positiveInt(value);
    if (n !== null) return n;
  }
  return null;
}

// The `data` entries of an OpenAI model list, or null when the body is not one.
function openAiEntries(body: unknown): Json[] | null {
  if (!isRecord(body) || !Array.isArray(body.data)) return null;
  return body.data.filter((m): m is Json => isRecord(m) && typeof m.id === "string" && m.id !== "");
}

// Ollama's `/api/tags` models, or null when the body is not Ollama's (llama.cpp answers the same
// path with an Ollama-like list, but alongside an OpenAI `data` list).
function ollamaModels(body: unknown): EngineModel[] | null {
  if (!isRecord(body) || !Array.isArray(body.models) || Array.isArray(body.data)) return null;
  return body.models
    .filter((m): m is Json => isRecord(m) && typeof m.name === "string" && m.name !== "")
    .map((m) => {
      const q = quantizationOfLevel(isRecord(m.details) ? m.details.quantization_level : undefined);
      return { id: m.name as string, contextLength: null, ...(q === "unknown" ? {} : { quantization: q }) };
    });
}

function engineKind(
  models: JsonReply | null,
  entries: Json[],
  isOllama: boolean,
  hint: EngineKind | undefined,
): EngineKind {
  if (models?.headers.get("x-infernet-engine") === "test") return "test";
  // Every entry must agree: Ollama writes each model's namespace there, which could be anything.
  const owner = entries[0]?.owned_by;
  if (
    typeof owner === "string" && Object.hasOwn(OWNERS, owner) && entries.every((m) => m.owned_by === owner)
  ) {
    return OWNERS[owner];
  }
  if (isOllama) return "ollama";
  return hint ?? "openai";
}

/** Probes one base URL (with or without `/v1`); null when no engine answers there in time. */
export async function probeEngine(baseUrl: string, opts: ProbeOptions = {}): Promise<DetectedEngine | null> {
  const base = normalizeBaseUrl(baseUrl);
  if (base === null) return null;
  const fetchFn = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const [tags, models] = await Promise.all([
    getJson(`${base}/api/tags`, fetchFn, timeoutMs),
    getJson(`${base}/v1/models`, fetchFn, timeoutMs),
  ]);
  const ollama = ollamaModels(tags?.body);
  const entries = openAiEntries(models?.body);
  if (ollama === null && entries === null) return null;
  const kind = engineKind(models, entries ?? [], ollama !== null, opts.kindHint);
  const list = kind === "ollama" && ollama !== null
    ? ollama
    : (entries ?? []).map((m) => ({ id: m.id as string, contextLength: contextLengthOf(m) }));
  return { kind, baseUrl: base, models: list };
}

/** Detects the engine at engineUrl, else probes the standard ports at once and takes the first that answered. */
export async function detectEngine(opts: DetectEngineOptions = {}): Promise<DetectedEngine | null> {
  const probe = { fetch: opts.fetch, timeoutMs: opts.timeoutMs };
  if (opts.engineUrl) return await probeEngine(opts.engineUrl, probe);
  const host = opts.hostname ?? "127.0.0.1";
  const authority = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  const found = await Promise.all(
    STANDARD_ENGINES.map((e) => probeEngine(`http://${authority}:${e.port}`, { ...probe, kindHint: e.kind })),
  );
  return found.find((e) => e !== null) ?? null;
}
