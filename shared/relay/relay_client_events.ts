// Jobs over Nostr relays (docs/protocol.md §18), NIP-90 style: the consumer's job request (kind
// 5050, its parameters NIP-44 sealed to the node with direct mode's framing), the node's feedback
// (kind 7000: `processing` or `error`), its answer as ephemeral chunk events (one sealed frame
// each), and its result (kind 6050: usage and artifact hash, sealed). Both sides build and read the
// events here; nothing in this file trusts a relay.
import type { EventTemplate } from "nostr-tools/pure";
import { v2 as nip44 } from "nostr-tools/nip44";
import { isRecord } from "../json/is_record.ts";
import { type NostrEvent, tagValue } from "../nostr/event.ts";
import { FrameSealer } from "../direct/framing.ts";

/** NIP-90 text generation request. */
export const JOB_REQUEST_KIND = 5050;
/** NIP-90 result: the request's kind + 1000. */
export const JOB_RESULT_KIND = 6050;
/** NIP-90 job feedback. */
export const JOB_FEEDBACK_KIND = 7000;
/** Stream chunks: ephemeral (20000–29999), so relays forward and never store them. */
export const JOB_CHUNK_KIND = 25050;

/** The longest a request may live (its NIP-40 expiration past its `created_at`). */
export const MAX_REQUEST_TTL_S = 300;
/** The largest request content a node reads, in characters (a relay's event limit is 128 KiB). */
export const MAX_REQUEST_CONTENT = 100_000;

/** A job id: the stream the frames name (`rj_` and 32 hex). */
export const JOB_ID = /^rj_[0-9a-f]{32}$/;

/** What the consumer seals into its request: the chat body, its payment, and the price it accepts. */
export interface RelayJobParams {
  /** The OpenAI chat completion request. */
  request: Record<string, unknown>;
  /** A spending voucher (kind 7482) naming the request's signer as its consumer. */
  voucher: NostrEvent;
  /** The offer's prices the consumer accepts, nano-USD per 1,000 tokens: [prompt, completion]. */
  price: [number, number];
}

/** Why a node refused a request (the `code` tag of its kind-7000 error). */
export type RelayJobErrorCode =
  | "request_invalid"
  | "request_expired"
  | "request_replayed"
  | "request_too_large"
  | "request_undecryptable"
  | "model_not_served"
  | "price_too_low"
  | "voucher_forged"
  | "voucher_expired"
  | "voucher_foreign"
  | "voucher_reused"
  | "voucher_insufficient"
  | "platform_key_unknown"
  | "node_busy"
  | "node_error";

/** A fresh job id. */
export function newJobId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "rj_" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The unsigned job request: `params` sealed with the conversation key of the signer (whom the
 * voucher names) and the node, as one direct-mode message and its end frame, one payload a line.
 */
export function jobRequestTemplate(
  conversationKey: Uint8Array,
  opts: { node: string; jobId: string; params: RelayJobParams; createdAt: number; ttlS: number },
): EventTemplate {
  const sealer = new FrameSealer(conversationKey, opts.jobId, "c2n");
  const frames = [...sealer.message(JSON.stringify(opts.params)), sealer.end()];
  return {
    kind: JOB_REQUEST_KIND,
    created_at: opts.createdAt,
    tags: [
      ["p", opts.node],
      ["job", opts.jobId],
      ["encrypted"],
      ["expiration", String(opts.createdAt + opts.ttlS)],
    ],
    content: frames.join("\n"),
  };
}

/** The node's feedback: `processing`, or `error` with a stable code and a one-line reason. */
export function feedbackTemplate(
  request: NostrEvent,
  status: "processing" | "error",
  opts: { code?: RelayJobErrorCode; message?: string; createdAt: number },
): EventTemplate {
  const tags = [["e", request.id], ["p", request.pubkey]];
  if (status === "error") {
    tags.push(["status", "error", (opts.message ?? "").slice(0, 300)], ["code", opts.code ?? "node_error"]);
  } else tags.push(["status", "processing"]);
  return { kind: JOB_FEEDBACK_KIND, created_at: opts.createdAt, tags, content: "" };
}

/** One answer frame (an n2c NIP-44 payload) as an ephemeral event. */
export function chunkTemplate(request: NostrEvent, payload: string, createdAt: number): EventTemplate {
  return {
    kind: JOB_CHUNK_KIND,
    created_at: createdAt,
    tags: [["e", request.id], ["p", request.pubkey]],
    content: payload,
  };
}

/** What a result carries, sealed: the engine's usage, the answer's hash, the receipt's id. */
export interface RelayJobSummary {
  outcome: "success" | "failure" | "cancelled";
  usage: { prompt_tokens: number; completion_tokens: number } | null;
  artifact_hash: string | null;
  receipt: string | null;
}

/** The job's result (kind 6050), its summary NIP-44 sealed with the request's conversation key. */
export function resultTemplate(
  request: NostrEvent,
  conversationKey: Uint8Array,
  summary: RelayJobSummary,
  createdAt: number,
): EventTemplate {
  return {
    kind: JOB_RESULT_KIND,
    created_at: createdAt,
    tags: [["e", request.id], ["p", request.pubkey], ["encrypted"]],
    content: nip44.encrypt(JSON.stringify(summary), conversationKey),
  };
}

/** Opens a result's summary; null when it does not decrypt or is malformed. Never throws. */
export function openResult(event: NostrEvent, conversationKey: Uint8Array): RelayJobSummary | null {
  try {
    const s = JSON.parse(nip44.decrypt(event.content, conversationKey));
    if (!isRecord(s) || !["success", "failure", "cancelled"].includes(s.outcome as string)) return null;
    return s as unknown as RelayJobSummary;
  } catch {
    return null;
  }
}

/** A feedback event's status and, for an error, its code and reason. */
export function readFeedback(
  event: NostrEvent,
): { status: string; code: string | null; message: string } {
  const tag = event.tags.find((t) => t[0] === "status") ?? [];
  return { status: tag[1] ?? "", code: tagValue(event, "code") ?? null, message: tag[2] ?? "" };
}
