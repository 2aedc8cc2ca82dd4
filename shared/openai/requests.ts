import { isVramTier, type VramTier } from "../hardware/tiers.ts";
import { parseDecimal } from "../pricing/price.ts";

// Edge parsing of consumer requests: https://platform.openai.com/docs/api-reference/chat/create
// Only the fields the network acts on are checked; every other field passes through to the engine.

/** A request that failed validation, with the parameter at fault (OpenAI's `param`). */
export class RequestError extends Error {
  constructor(message: string, readonly param: string | null = null) {
    super(message);
    this.name = "RequestError";
  }
}

/** OpenRouter-style routing preferences (`provider` in the body); never sent to an engine. */
export interface ProviderPrefs {
  order: string[];
  only: string[];
  ignore: string[];
  allowFallbacks: boolean;
  /** Only nodes in this VRAM tier or larger (`provider.min_vram_tier`, an Infernet extension). */
  minVramTier: VramTier | null;
  /**
   * The most the consumer will pay (`provider.max_price`, OpenRouter style: USD per million
   * tokens), converted to nano-USD per 1,000 tokens; null where no limit was given.
   */
  maxPrice: { promptPer1k: bigint | null; completionPer1k: bigint | null };
}

/** A validated chat completion request. */
export interface ChatRequest {
  model: string;
  stream: boolean;
  /** The consumer asked for the final usage chunk (`stream_options.include_usage`). */
  includeUsage: boolean;
  maxTokens: number | null;
  messages: ReadonlyArray<Record<string, unknown>>;
  provider: ProviderPrefs;
  /** The body to forward: the consumer's fields minus `provider`. */
  body: Record<string, unknown>;
}

/** A validated embeddings request. */
export interface EmbeddingsRequest {
  model: string;
  inputs: ReadonlyArray<string | number[]>;
  provider: ProviderPrefs;
  body: Record<string, unknown>;
}

function asObject(raw: unknown): Record<string, unknown> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new RequestError("The request body must be a JSON object.");
  }
  return raw as Record<string, unknown>;
}

function parseModel(body: Record<string, unknown>): string {
  const model = body.model;
  if (typeof model !== "string" || model.trim() === "") {
    throw new RequestError("you must provide a model parameter", "model");
  }
  return model;
}

function stringList(value: unknown, param: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new RequestError(`${param} must be an array of strings`, param);
  }
  return value;
}

/** Parses the `provider` preferences object; absent means defaults. */
export function parseProviderPrefs(value: unknown): ProviderPrefs {
  if (value === undefined || value === null) {
    return {
      order: [],
      only: [],
      ignore: [],
      allowFallbacks: true,
      minVramTier: null,
      maxPrice: { promptPer1k: null, completionPer1k: null },
    };
  }
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new RequestError("provider must be an object", "provider");
  }
  const p = value as Record<string, unknown>;
  if (p.allow_fallbacks !== undefined && typeof p.allow_fallbacks !== "boolean") {
    throw new RequestError("provider.allow_fallbacks must be a boolean", "provider.allow_fallbacks");
  }
  if (p.min_vram_tier !== undefined && p.min_vram_tier !== null && !isVramTier(p.min_vram_tier)) {
    throw new RequestError(
      "provider.min_vram_tier must be one of nano, small, medium, large, x1, xx1",
      "provider.min_vram_tier",
    );
  }
  return {
    order: stringList(p.order, "provider.order"),
    only: stringList(p.only, "provider.only"),
    ignore: stringList(p.ignore, "provider.ignore"),
    allowFallbacks: p.allow_fallbacks !== false,
    minVramTier: (p.min_vram_tier as VramTier | undefined) ?? null,
    maxPrice: parseMaxPrice(p.max_price),
  };
}

// USD per million tokens → nano-USD per 1,000 tokens: × 10^9 / 10^3, i.e. six decimal places.
const MAX_PRICE_DECIMALS = 6;

function parseMaxPrice(value: unknown): ProviderPrefs["maxPrice"] {
  if (value === undefined || value === null) return { promptPer1k: null, completionPer1k: null };
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new RequestError(
      'provider.max_price must be an object like {"prompt": 1, "completion": 2} (USD per million tokens)',
      "provider.max_price",
    );
  }
  const m = value as Record<string, unknown>;
  const one = (key: "prompt" | "completion") => {
    if (m[key] === undefined || m[key] === null) return null;
    const v = parseDecimal(m[key], MAX_PRICE_DECIMALS);
    if (v === null) {
      throw new RequestError(
        `provider.max_price.${key} must be a non-negative number of USD per million tokens`,
        `provider.max_price.${key}`,
      );
    }
    return v;
  };
  return { promptPer1k: one("prompt"), completionPer1k: one("completion") };
}

function withoutProvider(body: Record<string, unknown>): Record<string, unknown> {
  const { provider: _provider, ...rest } = body;
  return rest;
}

function positiveInt(value: unknown, param: string): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RequestError(`${param} must be a positive integer`, param);
  }
  return value;
}

/** Validates a chat completion request body. */
export function parseChatRequest(raw: unknown): ChatRequest {
  const body = asObject(raw);
  const model = parseModel(body);
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new RequestError("messages must be a non-empty array", "messages");
  }
  messages.forEach((m, i) => {
    if (typeof m !== "object" || m === null || typeof (m as { role?: unknown }).role !== "string") {
      throw new RequestError(`messages[${i}] must be an object with a role`, `messages[${i}]`);
    }
  });
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== "boolean") {
    throw new RequestError("stream must be a boolean", "stream");
  }
  const options = body.stream_options;
  if (options !== undefined && options !== null && (typeof options !== "object" || Array.isArray(options))) {
    throw new RequestError("stream_options must be an object", "stream_options");
  }
  const maxTokens = positiveInt(body.max_completion_tokens, "max_completion_tokens") ??
    positiveInt(body.max_tokens, "max_tokens");
  return {
    model,
    stream: body.stream === true,
    includeUsage: (options as { include_usage?: unknown } | null | undefined)?.include_usage === true,
    maxTokens,
    messages: messages as Record<string, unknown>[],
    provider: parseProviderPrefs(body.provider),
    body: withoutProvider(body),
  };
}

/** Validates an embeddings request body. */
export function parseEmbeddingsRequest(raw: unknown): EmbeddingsRequest {
  const body = asObject(raw);
  const model = parseModel(body);
  const input = body.input;
  const isTokens = (v: unknown): v is number[] =>
    Array.isArray(v) && v.length > 0 && v.every((n) => Number.isInteger(n));
  let inputs: (string | number[])[];
  if (typeof input === "string") inputs = [input];
  else if (isTokens(input)) inputs = [input];
  else if (
    Array.isArray(input) && input.length > 0 &&
    input.every((v) => typeof v === "string" || isTokens(v))
  ) inputs = input;
  else {
    throw new RequestError(
      "input must be a string, an array of strings, or an array of token arrays",
      "input",
    );
  }
  if (inputs.some((v) => v === "")) {
    throw new RequestError("input must not contain empty strings", "input");
  }
  return { model, inputs, provider: parseProviderPrefs(body.provider), body: withoutProvider(body) };
}
