// The consumer request bodies as JSON Schema: compiled by requests.ts into the edge's validators and
// published in /openapi.json. Only the fields the network acts on are constrained; the objects
// stay open, so every other field passes through to the engine.
// https://platform.openai.com/docs/api-reference/chat/create
import type { JsonSchema } from "../json_schema/validator.ts";
import { VRAM_TIERS } from "../hardware/tiers.ts";
import { QUANTIZATIONS } from "../hardware/quantization.ts";

const MODEL: JsonSchema = {
  type: "string",
  pattern: "\\S",
  description: "The model to run, as `GET /v1/models` lists it.",
  examples: ["llama3.2:1b"],
  errorMessage: "you must provide a model parameter",
};

const STRING_LIST: JsonSchema = {
  type: ["array", "null"],
  items: { type: "string" },
  errorMessage: "{param} must be an array of strings",
};

const PRICE: JsonSchema = {
  anyOf: [
    { type: "number", minimum: 0 },
    { type: "string", pattern: "^\\s*\\d+(\\.\\d*)?\\s*$" },
    { type: "null" },
  ],
  description: "USD per million tokens (a number or a decimal string).",
  errorMessage: "{param} must be a non-negative number of USD per million tokens",
};

/** OpenRouter-style routing preferences (`provider`); the control plane reads them, no engine sees them. */
export const PROVIDER_PREFS_SCHEMA: JsonSchema = {
  type: ["object", "null"],
  description: "Routing preferences in OpenRouter's shape; never forwarded to the engine.",
  properties: {
    order: { ...STRING_LIST, description: "Node pubkeys (or node ids) to try first, in this order." },
    only: { ...STRING_LIST, description: "Only these nodes." },
    ignore: { ...STRING_LIST, description: "Never these nodes." },
    allow_fallbacks: {
      type: "boolean",
      default: true,
      description: "Whether nodes outside `order` may serve when those in it cannot.",
      errorMessage: "provider.allow_fallbacks must be a boolean",
    },
    min_vram_tier: {
      enum: [...VRAM_TIERS, null],
      description: "Only nodes in this VRAM tier or larger (an Infernet extension).",
      errorMessage: "provider.min_vram_tier must be one of nano, small, medium, large, x1, xx1",
    },
    max_price: {
      type: ["object", "null"],
      description: "The most the consumer pays, USD per million tokens.",
      properties: { prompt: PRICE, completion: PRICE },
      errorMessage:
        'provider.max_price must be an object like {"prompt": 1, "completion": 2} (USD per million tokens)',
    },
    min_reputation: {
      type: ["number", "null"],
      minimum: 0,
      maximum: 1,
      description: "Only nodes whose reputation score (0..1, see docs/protocol.md) is at least this " +
        "(an Infernet extension).",
      errorMessage: "provider.min_reputation must be a number from 0 to 1",
    },
    sort: {
      enum: ["price", "throughput", "latency", null],
      description: "Rank by price (cheapest first), throughput (most tokens/s first) or latency (fastest " +
        "first token first) instead of by reputation and load.",
      errorMessage: "provider.sort must be one of price, throughput, latency",
    },
    quantizations: {
      type: ["array", "null"],
      items: { enum: QUANTIZATIONS },
      description: "Only nodes serving the model in one of these quantizations (as the nodes declare them).",
      errorMessage: `provider.quantizations must be an array of ${QUANTIZATIONS.join(", ")}`,
    },
    require_parameters: {
      type: ["boolean", "null"],
      default: false,
      description: "Only nodes that declare support for every optional parameter of the request " +
        "(tools, response_format, seed, ...).",
      errorMessage: "provider.require_parameters must be a boolean",
    },
  },
  errorMessage: "provider must be an object",
};

const MAX_TOKENS: JsonSchema = {
  type: ["integer", "null"],
  minimum: 1,
  errorMessage: "{param} must be a positive integer",
};

/** `POST /v1/chat/completions`: the fields checked, in the order they are checked. */
export const CHAT_REQUEST_SCHEMA: JsonSchema = {
  type: "object",
  title: "ChatCompletionRequest",
  description: "OpenAI's chat completion request; fields not named here pass through to the engine.",
  required: ["model", "messages"],
  properties: {
    model: MODEL,
    messages: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        required: ["role"],
        properties: { role: { type: "string", examples: ["system", "user", "assistant", "tool"] } },
        errorMessage: "{param} must be an object with a role",
      },
      errorMessage: "messages must be a non-empty array",
    },
    stream: {
      type: ["boolean", "null"],
      default: false,
      description: "Answer as server-sent events (`text/event-stream`).",
      errorMessage: "stream must be a boolean",
    },
    stream_options: {
      type: ["object", "null"],
      description: "`include_usage: true` adds a final chunk with the usage.",
      errorMessage: "stream_options must be an object",
    },
    max_completion_tokens: {
      ...MAX_TOKENS,
      description: "The most tokens to generate; the worst case is reserved from the balance.",
    },
    max_tokens: {
      ...MAX_TOKENS,
      description: "The older name of `max_completion_tokens` (when both are set, the smaller holds).",
    },
    n: {
      type: ["integer", "null"],
      minimum: 1,
      maximum: 128,
      default: 1,
      description: "How many choices to generate; each may use the whole completion limit, all are reserved.",
      errorMessage: "n must be an integer from 1 to 128",
    },
    provider: PROVIDER_PREFS_SCHEMA,
  },
  errorMessage: "The request body must be a JSON object.",
};

const TOKENS: JsonSchema = { type: "array", minItems: 1, items: { type: "integer" } };

/** `POST /v1/embeddings`. */
export const EMBEDDINGS_REQUEST_SCHEMA: JsonSchema = {
  type: "object",
  title: "EmbeddingsRequest",
  description: "OpenAI's embeddings request; fields not named here pass through to the engine.",
  required: ["model", "input"],
  properties: {
    model: MODEL,
    input: {
      allOf: [
        {
          anyOf: [
            { type: "string" },
            TOKENS,
            { type: "array", minItems: 1, items: { anyOf: [{ type: "string" }, TOKENS] } },
          ],
          errorMessage: "input must be a string, an array of strings, or an array of token arrays",
        },
        {
          not: { anyOf: [{ const: "" }, { type: "array", contains: { const: "" } }] },
          errorMessage: "input must not contain empty strings",
        },
      ],
      description: "A string, an array of strings, or an array of token arrays.",
      errorMessage: "input must be a string, an array of strings, or an array of token arrays",
    },
    encoding_format: {
      enum: ["float", "base64"],
      description: "float (default): arrays of numbers; base64: each vector's float32 little-endian bytes, " +
        "base64-encoded (OpenAI's SDKs ask for this and decode it).",
      errorMessage: "encoding_format must be 'float' or 'base64'",
    },
    provider: PROVIDER_PREFS_SCHEMA,
  },
  errorMessage: "The request body must be a JSON object.",
};
