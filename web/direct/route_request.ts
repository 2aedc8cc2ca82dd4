// The body of `POST /v1/route` (docs/protocol.md §14), parsed at the edge into a typed value.
import { parseProviderPrefs, type ProviderPrefs, RequestError } from "../../shared/mod.ts";
import { isRecord } from "../../shared/json/is_record.ts";
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

const HEX64 = /^[0-9a-f]{64}$/;
const MAX_TOKENS = 10_000_000;

/** Parses and checks a route request; a RequestError names the parameter at fault. */
export function parseRouteRequest(raw: unknown): RouteRequest {
  if (!isRecord(raw)) throw new RequestError("the body must be a JSON object");
  const { model, prompt_tokens: pt, max_tokens: mt, consumer, target, stream } = raw;
  if (typeof model !== "string" || model.length === 0 || model.length > 256) {
    throw new RequestError("model must be a non-empty string", "model");
  }
  if (!Number.isSafeInteger(pt) || (pt as number) < 0 || (pt as number) > MAX_TOKENS) {
    throw new RequestError(
      "prompt_tokens (your o200k count of the prompt) must be an integer ≥ 0",
      "prompt_tokens",
    );
  }
  if (mt != null && (!Number.isSafeInteger(mt) || (mt as number) < 1 || (mt as number) > MAX_TOKENS)) {
    throw new RequestError("max_tokens must be an integer ≥ 1", "max_tokens");
  }
  if (typeof consumer !== "string" || !HEX64.test(consumer)) {
    throw new RequestError(
      "consumer must be your one-off public key, 64 lower-case hex characters",
      "consumer",
    );
  }
  if (target != null && target !== "node" && target !== "model") {
    throw new RequestError('target must be "node" or "model"', "target");
  }
  if (stream != null && typeof stream !== "boolean") {
    throw new RequestError("stream must be a boolean", "stream");
  }
  return {
    model,
    promptTokens: pt as number,
    maxTokens: (mt as number | null | undefined) ?? null,
    consumer,
    target: target ?? "node",
    provider: parseProviderPrefs(raw.provider),
    stream: stream === true,
  };
}
