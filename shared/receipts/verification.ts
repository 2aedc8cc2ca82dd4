// Verification results (docs/protocol.md §11): the control plane's signed verdict on one job of
// one node (kind 7477, `e` = the platform receipt of the job checked, `p` = the node), from a
// known-answer canary or a cross-check against a second node. Reputation reads them beside the
// receipts; they are public like the receipts.
import { finalizeEvent, getPublicKey, type NostrEvent } from "nostr-tools/pure";
import { hasValidSignature, parseEvent, tagValue } from "../nostr/event.ts";
import { isRecord } from "../json/is_record.ts";
import { canonicalJson, type CanonicalValue } from "./canonical_json.ts";
import {
  type EventFinalizer,
  nostrDid,
  RECEIPT_TAG,
  type ReceiptCheck,
  type ReceiptVerifyOptions,
} from "./receipt.ts";

/** A verification result, signed by the control plane. */
export const VERIFICATION_KIND = 7477;

/** What was checked. */
export type VerificationCheck = "canary" | "cross_check" | "metering" | "hardware";

/** What a verification says (wire names: the content, byte for byte). */
export interface VerificationContent {
  task_id: string;
  agent_did: string;
  /** The id of the platform receipt (kind 7476) of the job checked. */
  receipt: string;
  check: VerificationCheck;
  result: "pass" | "fail";
  /** Why, in a few words ("token agreement 0.41 < 0.9", "answer cut short"). */
  detail: string;
  created_at: number;
}

declare const verified: unique symbol;

/** A verification event whose signature and content were checked. */
export interface VerifiedVerification {
  readonly [verified]: true;
  event: NostrEvent;
  content: VerificationContent;
}

const CHECKS: readonly string[] = ["canary", "cross_check", "metering", "hardware"];

/** Signs a verification result with the platform key. */
export function createVerification(
  secretKey: Uint8Array,
  content: VerificationContent,
  opts: { finalize?: EventFinalizer } = {},
): NostrEvent {
  const node = content.agent_did.slice("did:nostr:".length);
  return (opts.finalize ?? finalizeEvent)({
    kind: VERIFICATION_KIND,
    created_at: content.created_at,
    tags: [["t", RECEIPT_TAG], ["job", content.task_id], ["e", content.receipt], ["p", node]],
    content: canonicalJson(content as unknown as CanonicalValue),
  }, secretKey);
}

/** Checks a verification event as received; `platformPubkey`, when given, must be its signer. */
export function verifyVerification(
  raw: unknown,
  platformPubkey?: string,
  opts: ReceiptVerifyOptions = {},
): ReceiptCheck<VerifiedVerification> {
  const event = parseEvent(raw);
  if (!event) return { ok: false, reason: "not a well-formed Nostr event" };
  if (event.kind !== VERIFICATION_KIND) return { ok: false, reason: `kind must be ${VERIFICATION_KIND}` };
  if (!hasValidSignature(event, opts.verifyEvent)) {
    return { ok: false, reason: "the id or signature is wrong" };
  }
  if (platformPubkey && event.pubkey !== platformPubkey) {
    return { ok: false, reason: "signed by another key than the control plane's" };
  }
  let c: unknown;
  try {
    c = JSON.parse(event.content);
  } catch {
    return { ok: false, reason: "content is not JSON" };
  }
  if (
    !isRecord(c) || typeof c.task_id !== "string" || typeof c.agent_did !== "string" ||
    !/^did:nostr:[0-9a-f]{64}$/.test(c.agent_did) || typeof c.receipt !== "string" ||
    !/^[0-9a-f]{64}$/.test(c.receipt) || typeof c.check !== "string" || !CHECKS.includes(c.check) ||
    (c.result !== "pass" && c.result !== "fail") || typeof c.detail !== "string" ||
    c.created_at !== event.created_at || Object.keys(c).length !== 7
  ) {
    return { ok: false, reason: "content is not a verification" };
  }
  if (canonicalJson(c as CanonicalValue) !== event.content) {
    return { ok: false, reason: "content is not canonical JSON" };
  }
  if (tagValue(event, "e") !== c.receipt || tagValue(event, "p") !== c.agent_did.slice(10)) {
    return { ok: false, reason: "the e or p tag differs from the content" };
  }
  return { ok: true, value: { event, content: c as unknown as VerificationContent } as VerifiedVerification };
}

/** The platform's DID from its key, as verifications and receipts name it. */
export function platformDidOf(secretKey: Uint8Array): string {
  return nostrDid(getPublicKey(secretKey));
}
