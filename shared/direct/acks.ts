// Direct-mode usage acknowledgements (docs/protocol.md §14): after a direct or relayed job the
// consumer signs, with its one-off key, what it counted itself (o200k tokens of the prompt and of
// what it decrypted) and the SHA-256 of the answer's text (kind 7479). The control plane settles
// on it and the node's receipt without ever seeing the text.
import { finalizeEvent, type NostrEvent } from "nostr-tools/pure";
import { hasValidSignature, parseEvent, tagValue } from "../nostr/event.ts";
import { isRecord } from "../json/is_record.ts";
import { canonicalJson, type CanonicalValue } from "../receipts/canonical_json.ts";

/** A consumer's usage acknowledgement for one direct job, signed by its one-off key. */
export const USAGE_ACK_KIND = 7479;

/** The `t` tag of a usage acknowledgement. */
export const USAGE_ACK_TAG = "infernet-usage-ack";

/** An acknowledgement's fields (wire names: the content, byte for byte). */
export interface UsageAckContent {
  job_id: string;
  /** The node that answered (hex). */
  node: string;
  prompt_tokens: number;
  completion_tokens: number;
  /** SHA-256 hex of the answer's text (shared artifactHash); null when nothing was received. */
  artifact_hash: string | null;
  created_at: number;
}

/** Why an acknowledgement was refused. */
export type UsageAckRefusal = "ack_invalid" | "ack_forged" | "ack_foreign";

declare const verified: unique symbol;

/** An acknowledgement whose signature, signer and content were checked. */
export interface VerifiedUsageAck {
  readonly [verified]: true;
  event: NostrEvent;
  content: UsageAckContent;
}

/** An acknowledgement check's outcome. */
export type UsageAckCheck = { ok: true; ack: VerifiedUsageAck } | {
  ok: false;
  code: UsageAckRefusal;
  reason: string;
};

const HEX64 = /^[0-9a-f]{64}$/;
const isNat = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;

const FIELDS: Record<keyof UsageAckContent, (v: unknown) => boolean> = {
  job_id: (v) => typeof v === "string" && v.length > 0 && v.length <= 128,
  node: (v) => typeof v === "string" && HEX64.test(v),
  prompt_tokens: isNat,
  completion_tokens: isNat,
  artifact_hash: (v) => v === null || (typeof v === "string" && HEX64.test(v)),
  created_at: isNat,
};

/**
 * Signs a usage acknowledgement with the consumer's one-off key (the ticket's `consumer`).
 * @example createUsageAck(oneOffKey, { job_id, node, prompt_tokens: 12, completion_tokens: 30, artifact_hash, created_at })
 */
export function createUsageAck(consumerSecretKey: Uint8Array, content: UsageAckContent): NostrEvent {
  return finalizeEvent({
    kind: USAGE_ACK_KIND,
    created_at: content.created_at,
    tags: [["t", USAGE_ACK_TAG], ["p", content.node], ["job", content.job_id]],
    content: canonicalJson(content as unknown as CanonicalValue),
  }, consumerSecretKey);
}

/**
 * Checks an acknowledgement as received: signed by the job's one-off `consumer` key, well formed,
 * and about `jobId`. Never throws.
 */
export function verifyUsageAck(raw: unknown, opts: { consumer: string; jobId: string }): UsageAckCheck {
  const event = parseEvent(raw);
  if (!event || event.kind !== USAGE_ACK_KIND) {
    return { ok: false, code: "ack_invalid", reason: `not a usage ack (kind ${USAGE_ACK_KIND} event)` };
  }
  if (!hasValidSignature(event)) {
    return { ok: false, code: "ack_forged", reason: "the usage ack's signature is wrong" };
  }
  if (event.pubkey !== opts.consumer) {
    return { ok: false, code: "ack_forged", reason: "the usage ack is not signed by the job's consumer key" };
  }
  let c: unknown;
  try {
    c = JSON.parse(event.content);
  } catch {
    return { ok: false, code: "ack_invalid", reason: "the usage ack's content is not JSON" };
  }
  if (!isRecord(c)) {
    return { ok: false, code: "ack_invalid", reason: "the usage ack's content is not an object" };
  }
  for (const [name, check] of Object.entries(FIELDS)) {
    if (!check(c[name])) {
      return { ok: false, code: "ack_invalid", reason: `usage ack ${name} is missing or invalid` };
    }
  }
  if (
    Object.keys(c).length !== Object.keys(FIELDS).length ||
    canonicalJson(c as CanonicalValue) !== event.content
  ) {
    return { ok: false, code: "ack_invalid", reason: "the usage ack's content is not canonical" };
  }
  const a = c as unknown as UsageAckContent;
  if (
    tagValue(event, "p") !== a.node || tagValue(event, "job") !== a.job_id ||
    a.created_at !== event.created_at
  ) {
    return { ok: false, code: "ack_invalid", reason: "the usage ack's tags differ from its content" };
  }
  if (a.job_id !== opts.jobId) {
    return { ok: false, code: "ack_foreign", reason: "the usage ack is about another job" };
  }
  return { ok: true, ack: { event, content: a } as VerifiedUsageAck };
}
