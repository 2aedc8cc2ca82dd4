// The body of `POST /v1/route` (docs/protocol.md §14): its schema (published in /openapi.json and
// compiled into the validator, so the two cannot drift), parsed at the edge into a typed value.
import {
  compileSchema,
  type JsonSchema,
  parseProviderPrefs,
  PROVIDER_PREFS_SCHEMA,
  type ProviderPrefs,
  RequestError,
} from "../../shared/mod.ts";
import type { TicketTarget } from "../../shared/direct/ticket.ts";

/** A direct-mode route request. */
export interface RouteRequest {
  model: string;
  /** The consumer's o200k count of its prompt. */
  promptTokens: number;
  maxTokens: number | null;
  /** The consumer's one-off pubkey (hex). */
  consumer: string;
  target: TicketTarget;
  provider: ProviderPrefs;
  stream: boolean;
}

const MAX_TOKENS = 10_000_000;

/** The route request's schema. */
export const ROUTE_REQUEST_SCHEMA: JsonSchema = {
  type: "object",
  title: "RouteRequest",
  required: ["model", "prompt_tokens", "consumer"],
  properties: {
    model: { type: "string", minLength: 1, errorMessage: "model must be a non-empty string" },
    prompt_tokens: {
      type: "integer",
      minimum: 0,
      maximum: MAX_TOKENS,
      description: "Your o200k count of the prompt; the node refuses a prompt over 1.25 × this + 16.",
      errorMessage: "prompt_tokens (your o200k count of the prompt) must be an integer ≥ 0",
    },
    max_tokens: {
      type: ["integer", "null"],
      minimum: 1,
      maximum: MAX_TOKENS,
      errorMessage: "max_tokens must be an integer ≥ 1",
    },
    consumer: {
      type: "string",
      pattern: "^[0-9a-f]{64}$",
      description: "Your one-off public key for this request (hex); it signs the usage ack.",
      errorMessage: "consumer must be your one-off public key, 64 lower-case hex characters",
    },
    target: {
      enum: ["node", "model"],
      description: "Encrypt to the node's key (default) or to the model's key (IPIP-0028).",
      errorMessage: 'target must be "node" or "model"',
    },
    provider: PROVIDER_PREFS_SCHEMA,
    stream: { type: "boolean", errorMessage: "stream must be a boolean" },
  },
  errorMessage: "the body must be a JSON object",
};

const check = compileSchema(ROUTE_REQUEST_SCHEMA);

/** Parses and checks a route request; a RequestError names the parameter at fault. */
export function parseRouteRequest(raw: unknown): RouteRequest {
  const issue = check(raw);
  if (issue) throw new RequestError(issue.message, issue.param);
  const r = raw as Record<string, unknown>;
  return {
    model: r.model as string,
    promptTokens: r.prompt_tokens as number,
    maxTokens: (r.max_tokens as number | null | undefined) ?? null,
    consumer: r.consumer as string,
    target: (r.target as TicketTarget | undefined) ?? "node",
    provider: parseProviderPrefs(r.provider),
    stream: r.stream === true,
  };
}
