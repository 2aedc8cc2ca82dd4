import { completionLimit } from "./completion_limit.ts";
import type { VramTier } from "../hardware/tiers.ts";
import type { Quantization } from "../hardware/quantization.ts";
import { parseDecimal } from "../pricing/price.ts";
import { compileSchema, type SchemaIssue } from "../json_schema/validator.ts";
import { CHAT_REQUEST_SCHEMA, EMBEDDINGS_REQUEST_SCHEMA, PROVIDER_PREFS_SCHEMA } from "./request_schemas.ts";

// Edge parsing of consumer requests: https://platform.openai.com/docs/api-reference/chat/create
// The bodies are checked against the schemas in request_schemas.ts (the ones /openapi.json
// publishes), then converted; every field the schemas do not name passes through to the engine.

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
  /** Only nodes whose reputation score is at least this, 0..1 (`provider.min_reputation`, ours). */
  minReputation: number | null;
  /** Rank by this alone instead of the default ranking (`provider.sort`). */
  sort: ProviderSort | null;
  /** Only nodes serving the model in one of these quantizations; empty: any (`provider.quantizations`). */
  quantizations: Quantization[];
  /** Only nodes that declare every optional parameter the request uses (`provider.require_parameters`). */
  requireParameters: boolean;
}

/** OpenRouter's `provider.sort`: cheapest first, most tokens per second first, or fastest first token first. */
export type ProviderSort = "price" | "throughput" | "latency";

/** A validated chat completion request. */
export interface ChatRequest {
  model: string;
  stream: boolean;
  /** The consumer asked for the final usage chunk (`stream_options.include_usage`). */
  includeUsage: boolean;
  /** The completion limit per choice (the smaller of `max_completion_tokens` and `max_tokens`), or null. */
  maxTokens: number | null;
  /** How many choices (`n`, default 1): each may use the whole limit. */
  choices: number;
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
  /**
   * How the consumer wants the vectors: `float` (numbers) or `base64` (float32 little-endian, what
   * OpenAI's SDKs ask for unless told otherwise). The engine is always asked for floats.
   */
  encodingFormat: "float" | "base64";
  /** The body for the engine: without `provider` and `encoding_format`. */
  body: Record<string, unknown>;
}

const checkChat = compileSchema(CHAT_REQUEST_SCHEMA);
const checkEmbeddings = compileSchema(EMBEDDINGS_REQUEST_SCHEMA);
const checkProvider = compileSchema(PROVIDER_PREFS_SCHEMA);

function refuse(issue: SchemaIssue | null): void {
  if (issue !== null) throw new RequestError(issue.message, issue.param);
}

/** Parses the `provider` preferences object; absent means defaults. */
export function parseProviderPrefs(value: unknown): ProviderPrefs {
  // As a body's property, an absent `provider` is never checked; alone it is the defaults too.
  if (value !== undefined) refuse(checkProvider(value));
  return toProviderPrefs(value);
}

// The value has passed PROVIDER_PREFS_SCHEMA.
function toProviderPrefs(value: unknown): ProviderPrefs {
  if (value === undefined || value === null) {
    return {
      order: [],
      only: [],
      ignore: [],
      allowFallbacks: true,
      minVramTier: null,
      maxPrice: { promptPer1k: null, completionPer1k: null },
      minReputation: null,
      sort: null,
      quantizations: [],
      requireParameters: false,
    };
  }
  const p = value as
    & { order?: string[] | null; only?: string[] | null; ignore?: string[] | null }
    & Record<string, unknown>;
  return {
    order: p.order ?? [],
    only: p.only ?? [],
    ignore: p.ignore ?? [],
    allowFallbacks: p.allow_fallbacks !== false,
    minVramTier: (p.min_vram_tier as VramTier | undefined) ?? null,
    maxPrice: toMaxPrice(p.max_price as Record<string, unknown> | null | undefined),
    minReputation: (p.min_reputation as number | null | undefined) ?? null,
    sort: (p.sort as ProviderSort | null | undefined) ?? null,
    quantizations: (p.quantizations as Quantization[] | null | undefined) ?? [],
    requireParameters: p.require_parameters === true,
  };
}

// USD per million tokens → nano-USD per 1,000 tokens: × 10^9 / 10^3, i.e. six decimal places.
const MAX_PRICE_DECIMALS = 6;

function toMaxPrice(m: Record<string, unknown> | null | undefined): ProviderPrefs["maxPrice"] {
  if (m === undefined || m === null) return { promptPer1k: null, completionPer1k: null };
  const one = (key: "prompt" | "completion") => {
    if (m[key] === undefined || m[key] === null) return null;
    const v = parseDecimal(m[key], MAX_PRICE_DECIMALS);
    // The schema's pattern admits exactly what parseDecimal reads; this guards the two in step.
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

// Body fields every request carries or that only the network reads: not optional parameters.
const NOT_PARAMETERS = new Set([
  "model",
  "messages",
  "input",
  "stream",
  "stream_options",
  "provider",
  "user",
]);

/**
 * The optional parameters a request body uses (`tools`, `seed`, `response_format`, ...): what
 * `provider.require_parameters` asks a node to declare in its model's `supported_parameters`.
 */
export function requestParameters(body: Record<string, unknown>): string[] {
  return Object.keys(body).filter((k) => !NOT_PARAMETERS.has(k) && body[k] !== null && body[k] !== undefined);
}

function withoutProvider(body: Record<string, unknown>): Record<string, unknown> {
  const { provider: _provider, ...rest } = body;
  return rest;
}

/** Validates a chat completion request body against {@link CHAT_REQUEST_SCHEMA}. */
export function parseChatRequest(raw: unknown): ChatRequest {
  refuse(checkChat(raw));
  const body = raw as Record<string, unknown>;
  const options = body.stream_options as { include_usage?: unknown } | null | undefined;
  const limit = completionLimit(body);
  return {
    model: body.model as string,
    stream: body.stream === true,
    includeUsage: options?.include_usage === true,
    maxTokens: limit.perChoice,
    choices: limit.choices,
    messages: body.messages as Record<string, unknown>[],
    provider: toProviderPrefs(body.provider),
    body: withoutProvider(body),
  };
}

/** Validates an embeddings request body against {@link EMBEDDINGS_REQUEST_SCHEMA}. */
export function parseEmbeddingsRequest(raw: unknown): EmbeddingsRequest {
  refuse(checkEmbeddings(raw));
  const body = raw as Record<string, unknown>;
  const input = body.input as string | number[] | (string | number[])[];
  const single = typeof input === "string" || typeof input[0] === "number";
  const { encoding_format: format, ...rest } = withoutProvider(body);
  return {
    model: body.model as string,
    inputs: single ? [input as string | number[]] : input as (string | number[])[],
    provider: toProviderPrefs(body.provider),
    encodingFormat: format === "base64" ? "base64" : "float",
    body: rest,
  };
}
