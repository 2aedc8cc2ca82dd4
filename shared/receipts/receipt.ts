// Job receipts (docs/protocol.md §11): the node signs what it did (kind 7475), the control plane
// countersigns what it saw and billed (kind 7476, the CPR receipt, `e` = the node's receipt).
// Each side's receipts for one node chain by `prev`/`seq`. Content is canonical JSON, so any
// Nostr library can check the signatures and anyone can re-derive the bytes. Verification works
// on a fresh copy of the event and returns a branded value or the reason; it never throws.
import { finalizeEvent, getPublicKey, type NostrEvent } from "nostr-tools/pure";
import { schnorr } from "@noble/curves/secp256k1.js";
import { createHash } from "node:crypto";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { type EventVerifier, hasValidSignature, parseEvent, tagValue } from "../nostr/event.ts";
import { isRecord } from "../json/is_record.ts";
import { eventHash } from "../nostr/secp256k1.ts";
import { canonicalJson, type CanonicalValue } from "./canonical_json.ts";

/** The node's own receipt for one job it took. */
export const NODE_RECEIPT_KIND = 7475;

/** The control plane's countersigned receipt (CPR fields). */
export const PLATFORM_RECEIPT_KIND = 7476;

/** The `t` tag on every receipt, so relays and readers can filter them. */
export const RECEIPT_TAG = "infernet-receipt";

/** How a job ended, in CPR's words. */
export type ReceiptOutcome = "success" | "failure" | "timeout" | "cancelled";

/** Who stopped a cancelled or failed job. */
export type CancelledBy = "consumer" | "node" | "platform";

/** CPR's category for a job kind. */
export type ReceiptCategory = "inference:chat" | "inference:embeddings";

const OUTCOMES: readonly string[] = ["success", "failure", "timeout", "cancelled"];
const CANCELLERS: readonly string[] = ["consumer", "node", "platform"];

/** The one `error_code` a success may carry: a direct job settled without the consumer's ack (§14). */
export const NO_CONSUMER_ACK = "no_consumer_ack";
const CATEGORIES: readonly string[] = ["inference:chat", "inference:embeddings"];
const HEX64 = /^[0-9a-f]{64}$/;

/** Token counts; null when the side did not know them. */
export interface ReceiptTokens {
  prompt_tokens: number;
  completion_tokens: number;
}

/** What a node signs about one job (wire names: this is the content, byte for byte). */
export interface NodeReceiptContent {
  task_id: string;
  agent_did: string;
  category: ReceiptCategory;
  model: string;
  outcome: ReceiptOutcome;
  /** SHA-256 hex of the output text the node sent ({@link artifactHash}); null when none. */
  artifact_hash: string | null;
  /** The usage the node reported for the job (the engine's), or null. */
  usage: ReceiptTokens | null;
  ttft_ms: number | null;
  duration_ms: number;
  /** 1 for the node's first receipt, then one more each time. */
  seq: number;
  /** The id of the node's previous receipt; null for the first. */
  prev: string | null;
  created_at: number;
}

/** What the control plane signs about one job on one node: the CPR receipt. */
export interface PlatformReceiptContent {
  receipt_id: string;
  task_id: string;
  agent_did: string;
  buyer_did: string;
  platform_did: string;
  category: ReceiptCategory;
  model: string;
  /** What the buyer paid, decimal USD (the ledger's nano-USD, exactly). */
  amount: string;
  currency: "USD";
  outcome: ReceiptOutcome;
  cancelled_by: CancelledBy | null;
  error_code: string | null;
  /** SHA-256 hex of the output text the consumer received; null when none. */
  artifact_hash: string | null;
  usage: {
    /** As the node reported it. */
    reported: ReceiptTokens | null;
    /** As the control plane counted it (o200k). */
    counted: ReceiptTokens | null;
    /** What the buyer was billed for. */
    billed: ReceiptTokens;
  };
  ttft_ms: number | null;
  duration_ms: number;
  /** Whether the node's own signed receipt arrived and checked out; its id when it did. */
  signed: boolean;
  node_receipt: string | null;
  /** The node's previous platform receipt, so this side's receipts chain too. */
  seq: number;
  prev: string | null;
  created_at: number;
}

declare const verifiedNode: unique symbol;
declare const verifiedPlatform: unique symbol;

/** A node receipt whose signature, kind, tags and content were checked. */
export interface VerifiedNodeReceipt {
  readonly [verifiedNode]: true;
  event: NostrEvent;
  content: NodeReceiptContent;
}

/** A platform receipt whose signature, kind, tags and content were checked. */
export interface VerifiedPlatformReceipt {
  readonly [verifiedPlatform]: true;
  event: NostrEvent;
  content: PlatformReceiptContent;
}

/** How to verify: the signature backend (default nostr-tools' pure one). */
export interface ReceiptVerifyOptions {
  verifyEvent?: EventVerifier;
}

/** A verifier's outcome: the value, or why it was refused. */
export type ReceiptCheck<T> = { ok: true; value: T } | { ok: false; reason: string };

/** `did:nostr:<hex>`, the DID of a Nostr key. */
export function nostrDid(pubkeyHex: string): string {
  return `did:nostr:${pubkeyHex}`;
}

/** The CPR category of a job kind. */
export function categoryOf(kind: "chat" | "embeddings"): ReceiptCategory {
  return kind === "chat" ? "inference:chat" : "inference:embeddings";
}

/** Lower-case hex SHA-256 of a string's UTF-8. */
export function sha256Hex(text: string): string {
  // OpenSSL's (node:crypto): a few µs where @noble/hashes took tens on a receipt-sized text.
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/**
 * The artifact hash of a chat answer: SHA-256 hex of the UTF-8 of each choice's `content`,
 * concatenated in ascending `index` order (a streamed choice's deltas in arrival order).
 * @example artifactHash(["Hello", " world"]) // the hash of "Hello world" for n = 1 split in two
 */
export function artifactHash(choiceTexts: readonly string[]): string {
  return sha256Hex(choiceTexts.join(""));
}

/**
 * The artifact hash of an embeddings answer: SHA-256 hex of the JSON text (JSON.stringify, the
 * shortest round-trip form of each number) of the `embedding` arrays in `data` order.
 */
export function embeddingsArtifactHash(embeddings: readonly unknown[]): string {
  return sha256Hex(JSON.stringify(embeddings));
}

/** A CPR receipt id: derived from the job and the node, so one attempt has exactly one. */
export function receiptIdOf(jobId: string, nodePubkey: string): string {
  return "rcpt_" + sha256Hex(`${jobId}:${nodePubkey}`).slice(0, 32);
}

/** The buyer's pseudonymous DID: stable per account, meaningless without the platform's key. */
export function buyerDidOf(platformPubkey: string, accountId: string): string {
  return `did:infernet:buyer:${sha256Hex(`${platformPubkey}:${accountId}`).slice(0, 32)}`;
}

/** Signs an event template (nostr-tools' finalizeEvent, or a faster backend with its contract). */
export type EventFinalizer = (
  template: Omit<NostrEvent, "id" | "pubkey" | "sig">,
  secretKey: Uint8Array,
) => NostrEvent;

/**
 * The node's receipt for one job, signed by the node key. `opts.pubkey` saves deriving the key
 * from the secret each time; `opts.finalize` signs with another backend (libsecp256k1's).
 */
export function createNodeReceipt(
  secretKey: Uint8Array,
  content: Omit<NodeReceiptContent, "agent_did">,
  opts: { pubkey?: string; finalize?: EventFinalizer } = {},
): NostrEvent {
  const full = nodeContentInOrder({
    ...content,
    agent_did: nostrDid(opts.pubkey ?? getPublicKey(secretKey)),
  });
  return (opts.finalize ?? finalizeEvent)({
    kind: NODE_RECEIPT_KIND,
    created_at: full.created_at,
    tags: [["t", RECEIPT_TAG], ["job", full.task_id]],
    content: canonicalJson(full as unknown as CanonicalValue),
  }, secretKey);
}

/** The control plane's receipt for one job on one node, signed by the platform key. */
export function createPlatformReceipt(
  secretKey: Uint8Array,
  content: Omit<PlatformReceiptContent, "platform_did">,
): NostrEvent {
  const unsigned = unsignedPlatformReceipt(getPublicKey(secretKey), content);
  return { ...unsigned, sig: bytesToHex(schnorr.sign(hexToBytes(unsigned.id), secretKey)) };
}

/** An event with its id, before its signature (the id does not depend on the signature). */
export type UnsignedEvent = Omit<NostrEvent, "sig">;

/**
 * The platform receipt's event with its id but no signature, so a chain can be built (each
 * `prev` is the id before) while the signatures are made elsewhere (a worker).
 */
export function unsignedPlatformReceipt(
  platformPubkey: string,
  content: Omit<PlatformReceiptContent, "platform_did">,
): UnsignedEvent {
  const full = platformContentInOrder({ ...content, platform_did: nostrDid(platformPubkey) });
  const node = full.agent_did.slice("did:nostr:".length);
  const template = {
    kind: PLATFORM_RECEIPT_KIND,
    created_at: full.created_at,
    tags: [
      ["t", RECEIPT_TAG],
      ["job", full.task_id],
      ["p", node],
      ...(full.node_receipt ? [["e", full.node_receipt]] : []),
    ],
    content: canonicalJson(full as unknown as CanonicalValue),
    pubkey: platformPubkey,
  };
  return { ...template, id: eventHash(template) };
}

// The contents built with their keys in canonical order, so canonicalJson is JSON.stringify
// itself (a few µs, where sorting every object's keys took tens per receipt).

function tokensInOrder(t: ReceiptTokens | null): ReceiptTokens | null {
  return t && { completion_tokens: t.completion_tokens, prompt_tokens: t.prompt_tokens };
}

function nodeContentInOrder(c: NodeReceiptContent): NodeReceiptContent {
  return {
    agent_did: c.agent_did,
    artifact_hash: c.artifact_hash,
    category: c.category,
    created_at: c.created_at,
    duration_ms: c.duration_ms,
    model: c.model,
    outcome: c.outcome,
    prev: c.prev,
    seq: c.seq,
    task_id: c.task_id,
    ttft_ms: c.ttft_ms,
    usage: tokensInOrder(c.usage),
  };
}

function platformContentInOrder(c: PlatformReceiptContent): PlatformReceiptContent {
  return {
    agent_did: c.agent_did,
    amount: c.amount,
    artifact_hash: c.artifact_hash,
    buyer_did: c.buyer_did,
    cancelled_by: c.cancelled_by,
    category: c.category,
    created_at: c.created_at,
    currency: c.currency,
    duration_ms: c.duration_ms,
    error_code: c.error_code,
    model: c.model,
    node_receipt: c.node_receipt,
    outcome: c.outcome,
    platform_did: c.platform_did,
    prev: c.prev,
    receipt_id: c.receipt_id,
    seq: c.seq,
    signed: c.signed,
    task_id: c.task_id,
    ttft_ms: c.ttft_ms,
    usage: {
      billed: tokensInOrder(c.usage.billed)!,
      counted: tokensInOrder(c.usage.counted),
      reported: tokensInOrder(c.usage.reported),
    },
  };
}

// --- verification ---

type Field = (v: unknown) => boolean;
const isNat = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
const isStr = (max: number) => (v: unknown) => typeof v === "string" && v.length > 0 && v.length <= max;
const isHexOrNull = (v: unknown) => v === null || (typeof v === "string" && HEX64.test(v));
const orNull = (f: Field) => (v: unknown) => v === null || f(v);
/** Whether `v` has exactly these own keys (an object parsed from JSON: no others, none inherited). */
const hasExactly = (v: Record<string, unknown>, keys: readonly string[]) => {
  const own = Object.keys(v);
  return own.length === keys.length && keys.every((k) => Object.hasOwn(v, k));
};
const TOKEN_KEYS = ["prompt_tokens", "completion_tokens"] as const;
const isTokens = (v: unknown) =>
  isRecord(v) && hasExactly(v, TOKEN_KEYS) && isNat(v.prompt_tokens) && isNat(v.completion_tokens);
const oneOf = (list: readonly string[]) => (v: unknown) => typeof v === "string" && list.includes(v);
const isDid = (v: unknown) => typeof v === "string" && /^did:nostr:[0-9a-f]{64}$/.test(v);

const NODE_FIELDS: Record<keyof NodeReceiptContent, Field> = {
  task_id: isStr(128),
  agent_did: isDid,
  category: oneOf(CATEGORIES),
  model: isStr(256),
  outcome: oneOf(OUTCOMES),
  artifact_hash: isHexOrNull,
  usage: orNull(isTokens),
  ttft_ms: orNull(isNat),
  duration_ms: isNat,
  seq: (v) => isNat(v) && (v as number) >= 1,
  prev: isHexOrNull,
  created_at: isNat,
};

const PLATFORM_FIELDS: Record<keyof PlatformReceiptContent, Field> = {
  receipt_id: isStr(64),
  task_id: isStr(128),
  agent_did: isDid,
  buyer_did: isStr(128),
  platform_did: isDid,
  category: oneOf(CATEGORIES),
  model: isStr(256),
  amount: (v) => typeof v === "string" && /^\d+(\.\d{1,9})?$/.test(v),
  currency: (v) => v === "USD",
  outcome: oneOf(OUTCOMES),
  cancelled_by: orNull(oneOf(CANCELLERS)),
  error_code: orNull(isStr(64)),
  artifact_hash: isHexOrNull,
  usage: (v) =>
    isRecord(v) && hasExactly(v, ["reported", "counted", "billed"]) && orNull(isTokens)(v.reported) &&
    orNull(isTokens)(v.counted) && isTokens(v.billed),
  ttft_ms: orNull(isNat),
  duration_ms: isNat,
  signed: (v) => typeof v === "boolean",
  node_receipt: isHexOrNull,
  seq: (v) => isNat(v) && (v as number) >= 1,
  prev: isHexOrNull,
  created_at: isNat,
};

function checkContent<T>(
  event: NostrEvent,
  fields: Record<string, Field>,
): ReceiptCheck<T> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(event.content);
  } catch {
    return { ok: false, reason: "content is not JSON" };
  }
  if (!isRecord(parsed)) return { ok: false, reason: "content is not a JSON object" };
  for (const [name, check] of Object.entries(fields)) {
    if (!Object.hasOwn(parsed, name) || !check(parsed[name])) {
      return { ok: false, reason: `content.${name} is missing or invalid` };
    }
  }
  // Own keys only: `in` would take "constructor" or "__proto__" for fields (Object.prototype's).
  const extra = Object.keys(parsed).find((k) => !Object.hasOwn(fields, k));
  if (extra) return { ok: false, reason: `content.${extra} is not a receipt field` };
  if (canonicalJson(parsed as CanonicalValue) !== event.content) {
    return { ok: false, reason: "content is not canonical JSON (sorted keys, no whitespace)" };
  }
  if (parsed.created_at !== event.created_at) {
    return { ok: false, reason: "content.created_at differs from the event's" };
  }
  if (tagValue(event, "job") !== parsed.task_id) {
    return { ok: false, reason: "the job tag differs from content.task_id" };
  }
  if (!event.tags.some((t) => t[0] === "t" && t[1] === RECEIPT_TAG)) {
    return { ok: false, reason: `the t tag ${RECEIPT_TAG} is missing` };
  }
  return { ok: true, value: parsed as T };
}

function checkEvent(raw: unknown, kind: number, verify?: EventVerifier): ReceiptCheck<NostrEvent> {
  const event = parseEvent(raw);
  if (!event) return { ok: false, reason: "not a well-formed Nostr event" };
  if (event.kind !== kind) return { ok: false, reason: `kind must be ${kind}, not ${event.kind}` };
  if (!hasValidSignature(event, verify)) return { ok: false, reason: "the id or signature is wrong" };
  return { ok: true, value: event };
}

/** Checks a node receipt as received: signature, kind, canonical content, its signer as agent. */
export function verifyNodeReceipt(
  raw: unknown,
  opts: ReceiptVerifyOptions = {},
): ReceiptCheck<VerifiedNodeReceipt> {
  const ev = checkEvent(raw, NODE_RECEIPT_KIND, opts.verifyEvent);
  if (!ev.ok) return ev;
  const content = checkContent<NodeReceiptContent>(ev.value, NODE_FIELDS);
  if (!content.ok) return content;
  if (content.value.agent_did !== nostrDid(ev.value.pubkey)) {
    return { ok: false, reason: "agent_did is not the signer's key" };
  }
  return { ok: true, value: { event: ev.value, content: content.value } as VerifiedNodeReceipt };
}

/**
 * Checks a platform receipt as received; `platformPubkey` (hex), when given, is the only key
 * accepted as its signer.
 */
export function verifyPlatformReceipt(
  raw: unknown,
  platformPubkey?: string,
  opts: ReceiptVerifyOptions = {},
): ReceiptCheck<VerifiedPlatformReceipt> {
  const ev = checkEvent(raw, PLATFORM_RECEIPT_KIND, opts.verifyEvent);
  if (!ev.ok) return ev;
  if (platformPubkey && ev.value.pubkey !== platformPubkey) {
    return { ok: false, reason: "signed by another key than the control plane's" };
  }
  const content = checkContent<PlatformReceiptContent>(ev.value, PLATFORM_FIELDS);
  if (!content.ok) return content;
  const c = content.value;
  if (c.platform_did !== nostrDid(ev.value.pubkey)) {
    return { ok: false, reason: "platform_did is not the signer's key" };
  }
  const node = c.agent_did.slice("did:nostr:".length);
  if (tagValue(ev.value, "p") !== node) return { ok: false, reason: "the p tag is not the agent's key" };
  if ((tagValue(ev.value, "e") ?? null) !== c.node_receipt) {
    return { ok: false, reason: "the e tag differs from content.node_receipt" };
  }
  if (c.signed !== (c.node_receipt !== null)) {
    return { ok: false, reason: "signed and node_receipt disagree" };
  }
  if (c.receipt_id !== receiptIdOf(c.task_id, node)) {
    return { ok: false, reason: "receipt_id is not derived from the job and node" };
  }
  // A success is nobody's cancellation, and carries no failure's code (a direct job's missing ack is
  // a flag, not a failure: docs/protocol.md §14).
  if (c.outcome === "success" && c.cancelled_by !== null) {
    return { ok: false, reason: `a success has cancelled_by ${c.cancelled_by}` };
  }
  if (c.outcome === "success" && c.error_code !== null && c.error_code !== NO_CONSUMER_ACK) {
    return { ok: false, reason: `a success has error_code ${c.error_code}` };
  }
  return { ok: true, value: { event: ev.value, content: c } as VerifiedPlatformReceipt };
}
