// Finds the local inference engine: `--engine-url`, else the standard ports (Ollama 11434,
// vLLM 8000, SGLang 30000, llama.cpp 8080), and lists the models it serves.

/** The engines the daemon knows; "openai" is any other OpenAI-compatible server. */
export type EngineKind = "ollama" | "vllm" | "sglang" | "llamacpp" | "openai" | "test";

/** An engine that answered, with its models. */
export interface DetectedEngine {
  kind: EngineKind;
  /** Base URL without the trailing `/v1`. */
  baseUrl: string;
  models: { id: string; contextLength: number | null }[];
}

/** Standard ports, probed in this order of preference. */
export const STANDARD_ENGINES: readonly { port: number; kind: EngineKind }[] = [
  { port: 11434, kind: "ollama" },
  { port: 8000, kind: "vllm" },
  { port: 30000, kind: "sglang" },
  { port: 8080, kind: "llamacpp" },
];

interface ProbeOptions {
  fetch?: typeof fetch;
  timeoutMs?: number;
  kindHint?: EngineKind;
}

async function getJson(
  url: string,
  opts: ProbeOptions,
): Promise<{ body: unknown; headers: Headers } | null> {
  try {
    const res = await (opts.fetch ?? fetch)(url, { signal: AbortSignal.timeout(opts.timeoutMs ?? 500) });
    if (!res.ok) {
      await res.body?.cancel();
      return null;
    }
    return { body: await res.json(), headers: res.headers };
  } catch {
    return null;
  }
}

const OWNERS: Record<string, EngineKind> = {
  vllm: "vllm",
  sglang: "sglang",
  llamacpp: "llamacpp",
  "infernet-test-engine": "test",
};

function contextLength(m: Record<string, unknown>): number | null {
  const meta = (m.meta ?? {}) as Record<string, unknown>;
  for (const v of [m.max_model_len, m.context_length, meta.n_ctx_train, meta.n_ctx]) {
    if (Number.isSafeInteger(v) && (v as number) > 0) return v as number;
  }
  return null;
}

/** Probes one base URL; null when no OpenAI-compatible engine answers there. */
export async function probeEngine(baseUrl: string, opts: ProbeOptions = {}): Promise<DetectedEngine | null> {
  const base = baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
  const [tags, models] = await Promise.all([
    getJson(`${base}/api/tags`, opts),
    getJson(`${base}/v1/models`, opts),
  ]);
  const tagList = (tags?.body as { models?: unknown } | undefined)?.models;
  if (Array.isArray(tagList)) {
    return {
      kind: "ollama",
      baseUrl: base,
      models: tagList
        .filter((m): m is { name: string } => typeof m?.name === "string")
        .map((m) => ({ id: m.name, contextLength: null })),
    };
  }
  const data = (models?.body as { data?: unknown } | undefined)?.data;
  if (!models || !Array.isArray(data)) return null;
  const entries = data.filter((m): m is Record<string, unknown> => typeof m?.id === "string");
  const owner = OWNERS[String(entries[0]?.owned_by ?? "")];
  const kind: EngineKind = models.headers.get("x-infernet-engine") === "test"
    ? "test"
    : owner ?? opts.kindHint ?? "openai";
  return {
    kind,
    baseUrl: base,
    models: entries.map((m) => ({ id: m.id as string, contextLength: contextLength(m) })),
  };
}

/** Detects the engine at `engineUrl`, or the first standard port that answers. */
export async function detectEngine(
  opts: { engineUrl?: string; hostname?: string; fetch?: typeof fetch; timeoutMs?: number } = {},
): Promise<DetectedEngine | null> {
  if (opts.engineUrl) return await probeEngine(opts.engineUrl, opts);
  const host = opts.hostname ?? "127.0.0.1";
  const found = await Promise.all(
    STANDARD_ENGINES.map((e) => probeEngine(`http://${host}:${e.port}`, { ...opts, kindHint: e.kind })),
  );
  return found.find((e) => e !== null) ?? null;
}
