// Operator claims (docs/protocol.md §10): a node signs that an operator key may act for it
// (kind 7471, `p` = operator, `claim` = "infernet-operator"), the operator countersigns it
// (kind 7472, `e` = the claim's id, `p` = the node), and either side ends it with a NIP-09
// deletion (kind 5) of its own event. Verification works on a fresh copy of the event as received
// and returns a branded value or the reason; it never throws and never touches a database.
import { finalizeEvent, getPublicKey, type NostrEvent } from "nostr-tools/pure";
import { decode } from "nostr-tools/nip19";
import { hasValidSignature, nowSeconds, parseEvent, tagValue } from "./event.ts";

/** The node's claim: "this operator key may act for me". */
export const OPERATOR_CLAIM_KIND = 7471;

/** The operator's countersignature of one claim. */
export const OPERATOR_COUNTERSIGN_KIND = 7472;

/** NIP-09's deletion kind, used to revoke a claim (by the node) or a countersignature (by the operator). */
export const DELETION_KIND = 5;

/** The value of a claim's `claim` tag. */
export const CLAIM_TAG_VALUE = "infernet-operator";

/** How far a claim, countersignature or revocation's `created_at` may be from the server's clock. */
export const CLAIM_TOLERANCE_SEC = 3600;

const HEX64 = /^[0-9a-f]{64}$/;

declare const verifiedClaim: unique symbol;
declare const verifiedCountersign: unique symbol;
declare const verifiedRevocation: unique symbol;

/** A node's claim whose signature, kind, tags and time were checked. */
export interface VerifiedOperatorClaim {
  readonly [verifiedClaim]: true;
  id: string;
  nodePubkey: string;
  operatorPubkey: string;
  createdAt: number;
  /** The event as verified, serialised for storage. */
  json: string;
}

/** An operator's countersignature, checked against the claim it names. */
export interface VerifiedCountersign {
  readonly [verifiedCountersign]: true;
  id: string;
  claimId: string;
  operatorPubkey: string;
  createdAt: number;
  json: string;
}

/** A signed NIP-09 deletion naming the events it revokes. */
export interface VerifiedRevocation {
  readonly [verifiedRevocation]: true;
  id: string;
  pubkey: string;
  eventIds: string[];
  createdAt: number;
  json: string;
}

/** Every verifier's outcome: the value, or why it was refused. */
export type ClaimCheck<T> = { ok: true; value: T } | { ok: false; reason: string };

/** An operator key given as `npub1…` or 64 hex → hex, or null. */
export function parseOperatorKey(input: string): string | null {
  const s = input.trim();
  if (HEX64.test(s.toLowerCase())) return s.toLowerCase();
  if (!s.startsWith("npub1")) return null;
  try {
    const d = decode(s);
    return d.type === "npub" ? d.data : null;
  } catch {
    return null;
  }
}

/**
 * The node's claim for an operator, signed by the node key.
 * @example createOperatorClaim(nodeKey, "ab".repeat(32))
 */
export function createOperatorClaim(
  nodeSecret: Uint8Array,
  operatorPubkey: string,
  createdAt = nowSeconds(),
) {
  return finalizeEvent({
    kind: OPERATOR_CLAIM_KIND,
    created_at: createdAt,
    content: "",
    tags: [["p", operatorPubkey], ["claim", CLAIM_TAG_VALUE]],
  }, nodeSecret);
}

/** The operator's countersignature of a node's claim. */
export function createCountersign(
  operatorSecret: Uint8Array,
  claim: Pick<NostrEvent, "id" | "pubkey">,
  createdAt = nowSeconds(),
) {
  return finalizeEvent({
    kind: OPERATOR_COUNTERSIGN_KIND,
    created_at: createdAt,
    content: "",
    tags: [["e", claim.id], ["p", claim.pubkey], ["claim", CLAIM_TAG_VALUE]],
  }, operatorSecret);
}

/** A NIP-09 deletion of one's own claim or countersignature: the link it made ends. */
export function createRevocation(
  secret: Uint8Array,
  target: Pick<NostrEvent, "id" | "kind" | "pubkey">,
  createdAt = nowSeconds(),
) {
  if (target.pubkey !== getPublicKey(secret)) throw new Error("NIP-09: only the author can delete an event");
  return finalizeEvent({
    kind: DELETION_KIND,
    created_at: createdAt,
    content: "operator claim revoked",
    tags: [["e", target.id], ["k", String(target.kind)]],
  }, secret);
}

function fresh(raw: unknown, kind: number, nowSec: number): ClaimCheck<NostrEvent> {
  const event = parseEvent(raw);
  if (!event) return { ok: false, reason: "malformed Nostr event" };
  if (event.kind !== kind) return { ok: false, reason: `event kind must be ${kind}` };
  if (Math.abs(nowSec - event.created_at) > CLAIM_TOLERANCE_SEC) {
    return { ok: false, reason: `created_at is more than ${CLAIM_TOLERANCE_SEC}s from server time` };
  }
  return { ok: true, value: event };
}

/** Checks a node's claim; `signer`, when given, must be the node (the NIP-98 key that sent it). */
export function verifyOperatorClaim(
  raw: unknown,
  opts: { signer?: string; nowSec?: number } = {},
): ClaimCheck<VerifiedOperatorClaim> {
  const f = fresh(raw, OPERATOR_CLAIM_KIND, opts.nowSec ?? nowSeconds());
  if (!f.ok) return f;
  const event = f.value;
  const operator = tagValue(event, "p");
  if (!operator || !HEX64.test(operator)) {
    return { ok: false, reason: "p tag must be the operator's hex pubkey" };
  }
  if (tagValue(event, "claim") !== CLAIM_TAG_VALUE) {
    return { ok: false, reason: `claim tag must be "${CLAIM_TAG_VALUE}"` };
  }
  if (opts.signer !== undefined && opts.signer !== event.pubkey) {
    return { ok: false, reason: "the claim must be signed by the node that sends it" };
  }
  if (!hasValidSignature(event)) return { ok: false, reason: "invalid claim id or signature" };
  return {
    ok: true,
    value: {
      id: event.id,
      nodePubkey: event.pubkey,
      operatorPubkey: operator,
      createdAt: event.created_at,
      json: JSON.stringify(event),
    } as VerifiedOperatorClaim,
  };
}

/** Checks an operator's countersignature of `claim`: the claim's operator, its id and node. */
export function verifyCountersign(
  raw: unknown,
  claim: Pick<VerifiedOperatorClaim, "id" | "nodePubkey" | "operatorPubkey" | "createdAt">,
  opts: { nowSec?: number } = {},
): ClaimCheck<VerifiedCountersign> {
  const f = fresh(raw, OPERATOR_COUNTERSIGN_KIND, opts.nowSec ?? nowSeconds());
  if (!f.ok) return f;
  const event = f.value;
  if (event.pubkey !== claim.operatorPubkey) {
    return { ok: false, reason: "the countersignature must be by the operator the claim names" };
  }
  if (tagValue(event, "e") !== claim.id) return { ok: false, reason: "e tag must be the claim's event id" };
  if (tagValue(event, "p") !== claim.nodePubkey) {
    return { ok: false, reason: "p tag must be the node's pubkey" };
  }
  if (event.created_at < claim.createdAt) {
    return { ok: false, reason: "the countersignature is older than the claim" };
  }
  if (!hasValidSignature(event)) return { ok: false, reason: "invalid countersignature id or signature" };
  return {
    ok: true,
    value: {
      id: event.id,
      claimId: claim.id,
      operatorPubkey: event.pubkey,
      createdAt: event.created_at,
      json: JSON.stringify(event),
    } as VerifiedCountersign,
  };
}

/** Checks a revocation (NIP-09 deletion): who signed it and which event ids it deletes. */
export function verifyRevocation(
  raw: unknown,
  opts: { nowSec?: number } = {},
): ClaimCheck<VerifiedRevocation> {
  const f = fresh(raw, DELETION_KIND, opts.nowSec ?? nowSeconds());
  if (!f.ok) return f;
  const event = f.value;
  const ids = event.tags.filter((t) => t[0] === "e" && HEX64.test(t[1] ?? "")).map((t) => t[1]);
  if (ids.length === 0) return { ok: false, reason: "a revocation needs an e tag naming the claim" };
  if (!hasValidSignature(event)) return { ok: false, reason: "invalid revocation id or signature" };
  return {
    ok: true,
    value: {
      id: event.id,
      pubkey: event.pubkey,
      eventIds: ids,
      createdAt: event.created_at,
      json: JSON.stringify(event),
    } as VerifiedRevocation,
  };
}
