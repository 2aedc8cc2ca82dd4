// The consumer's usage acknowledgement of a direct job (docs/protocol.md §14, kind 7479): signed
// by the one-off key named in the job's ticket, it says what the consumer decrypted — its own
// o200k count of the prompt and the answer, and the SHA-256 of the answer's text. The control
// plane settles on it beside the node's receipt, without ever seeing the text.
import { type EventTemplate, finalizeEvent, type NostrEvent } from "nostr-tools/pure";
import type { EventVerifier } from "../nostr/event.ts";
import { checkCanonicalEvent, type FieldChecks, isHex64, isNat, isText } from "./canonical_event.ts";
import { canonicalJson, type CanonicalValue } from "../receipts/canonical_json.ts";

/** A consumer's usage acknowledgement. */
export const USAGE_ACK_KIND = 7479;

/** An acknowledgement's fields (wire names: the content, byte for byte). */
export interface UsageAckContent {
  job_id: string;
  /** The node that served the job (hex). */
  node: string;
  prompt_tokens: number;
  completion_tokens: number;
  /** SHA-256 hex of the answer's text as decrypted; null when there was none. */
  artifact_hash: string | null;
  created_at: number;
}

declare const verified: unique symbol;

/** An acknowledgement whose signature and content were checked (not yet whose key it is). */
export interface VerifiedUsageAck {
  readonly [verified]: true;
  event: NostrEvent;
  content: UsageAckContent;
}

/** Why an acknowledgement was refused. */
export type UsageAckRefusal = "ack_invalid" | "ack_forged";

const FIELDS: FieldChecks<UsageAckContent> = {
  job_id: isText(128),
  node: isHex64,
  prompt_tokens: isNat,
  completion_tokens: isNat,
  artifact_hash: (v) => v === null || isHex64(v),
  created_at: isNat,
};

/**
 * Signs an acknowledgement with the consumer's one-off key (by `secp`, a faster secp256k1 backend,
 * when given; else nostr-tools' pure signer).
 * @example createUsageAck(consumerKey, { job_id, node, prompt_tokens: 12, completion_tokens: 40, artifact_hash, created_at })
 */
export function createUsageAck(
  consumerSecretKey: Uint8Array,
  content: UsageAckContent,
  opts: { secp?: { finalizeEvent(t: EventTemplate, sk: Uint8Array): NostrEvent } } = {},
): NostrEvent {
  return (opts.secp?.finalizeEvent ?? finalizeEvent)({
    kind: USAGE_ACK_KIND,
    created_at: content.created_at,
    tags: [["job", content.job_id], ["p", content.node]],
    content: canonicalJson(content as unknown as CanonicalValue),
  }, consumerSecretKey);
}

/**
 * Checks an acknowledgement's signature (by `verify`, a faster secp256k1 backend's, when given) and
 * content; the signer is the caller's to match. Never throws.
 */
export function verifyUsageAck(
  raw: unknown,
  opts: { verify?: EventVerifier } = {},
): { ok: true; ack: VerifiedUsageAck } | { ok: false; code: UsageAckRefusal; reason: string } {
  const c = checkCanonicalEvent<UsageAckContent>(raw, USAGE_ACK_KIND, FIELDS, opts.verify);
  if (!c.ok) return { ok: false, code: c.code === "forged" ? "ack_forged" : "ack_invalid", reason: c.reason };
  return { ok: true, ack: { event: c.event, content: c.content } as VerifiedUsageAck };
}
