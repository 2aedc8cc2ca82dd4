// Spending vouchers (docs/protocol.md, "Vouchers"; issue 29): the control plane's signed promise
// to pay, up to `max_nano`, for one job that the consumer key `consumer` asks of any node, until
// `expires_at` (kind 7482). A node checks it offline with nothing but the control plane's
// published key, serves the job, and redeems the voucher once with the job's receipt.
import { type EventTemplate, finalizeEvent, type NostrEvent } from "nostr-tools/pure";
import { type EventVerifier, hasValidSignature, parseEvent, tagValue } from "../nostr/event.ts";
import { isRecord } from "../json/is_record.ts";
import { canonicalJson, type CanonicalValue } from "../receipts/canonical_json.ts";

/** A spending voucher, signed by the control plane's platform key. */
export const VOUCHER_KIND = 7482;

/** The `t` tag of a voucher. */
export const VOUCHER_TAG = "infernet-voucher";

/** The most a voucher can hold: PostgreSQL's int8, the ledger's nano-USD column. */
export const VOUCHER_MAX_NANO = 9_223_372_036_854_775_807n;

/** A voucher's fields (wire names: the content, byte for byte). */
export interface VoucherContent {
  /** `vch_` and 32 lower-case hex digits. */
  voucher_id: string;
  /** The buyer's pseudonym, as in receipts: `buyerDidOf(platformPubkey, "key:<api key id>")`. */
  buyer_did: string;
  /** The consumer key (hex) that must sign the job request carrying the voucher. */
  consumer: string;
  /** The most this voucher pays, nano-USD, as a decimal integer string (at least 1). */
  max_nano: string;
  currency: "USD";
  /** Unix seconds: the last moment the voucher may be used in a job, and redeemed. */
  expires_at: number;
  created_at: number;
}

/** Why a voucher was refused. */
export type VoucherRefusal = "voucher_forged" | "voucher_expired";

declare const verified: unique symbol;

/** A voucher whose signer, signature, content and time were checked. */
export interface VerifiedVoucher {
  readonly [verified]: true;
  event: NostrEvent;
  content: VoucherContent;
}

/** A voucher check's outcome. */
export type VoucherCheck = { ok: true; voucher: VerifiedVoucher } | {
  ok: false;
  code: VoucherRefusal;
  message: string;
};

/** What signs a voucher: nostr-tools' finalizeEvent by default, or a faster backend's. */
export interface VoucherSigner {
  finalizeEvent(template: EventTemplate, secretKey: Uint8Array): NostrEvent;
}

const VOUCHER_ID = /^vch_[0-9a-f]{32}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const isNat = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;

const FIELDS: Record<keyof VoucherContent, (v: unknown) => boolean> = {
  voucher_id: (v) => typeof v === "string" && VOUCHER_ID.test(v),
  buyer_did: (v) => typeof v === "string" && v.length > 0 && v.length <= 128,
  consumer: (v) => typeof v === "string" && HEX64.test(v),
  max_nano: (v) => typeof v === "string" && /^[1-9][0-9]{0,18}$/.test(v) && BigInt(v) <= VOUCHER_MAX_NANO,
  currency: (v) => v === "USD",
  expires_at: isNat,
  created_at: isNat,
};

/** A fresh voucher id: `vch_` and 128 random bits in hex. */
export function newVoucherId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "vch_" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Signs a voucher with the control plane's key (by `backend`, a faster secp256k1 one, when given).
 * Throws a TypeError when the content is not a voucher's, so a bad one is never signed.
 * @example createVoucher(platformKey, { voucher_id: newVoucherId(), …, expires_at: now + 86400, created_at: now })
 */
export function createVoucher(
  platformSecretKey: Uint8Array,
  content: VoucherContent,
  backend?: VoucherSigner,
): NostrEvent {
  const invalid = Object.entries(FIELDS).find(([name, check]) =>
    !check((content as unknown as Record<string, unknown>)[name])
  );
  if (invalid) throw new TypeError(`voucher ${invalid[0]} is missing or invalid`);
  if (content.expires_at < content.created_at) {
    throw new TypeError("a voucher expires after it is created");
  }
  // Only the voucher's own fields are signed, whatever else the caller's object carries.
  const fields = Object.fromEntries(
    Object.keys(FIELDS).map((k) => [k, (content as unknown as Record<string, unknown>)[k]]),
  );
  return (backend?.finalizeEvent ?? finalizeEvent)({
    kind: VOUCHER_KIND,
    created_at: content.created_at,
    tags: [["p", content.consumer], ["expiration", String(content.expires_at)], [
      "t",
      VOUCHER_TAG,
    ]],
    content: canonicalJson(fields as CanonicalValue),
  }, platformSecretKey);
}

function forged(message: string): VoucherCheck {
  return { ok: false, code: "voucher_forged", message };
}

/**
 * Checks a voucher as received: signed by `platformPubkey`, well formed, and not expired at
 * `nowS` (it is still good at `expires_at`). Single use is the control plane's to enforce, at
 * redemption. `verifyEvent` checks the signature (a faster backend's; default nostr-tools' pure
 * one). Never throws.
 */
export function verifyVoucher(
  raw: unknown,
  opts: { platformPubkey: string; nowS: number; verifyEvent?: EventVerifier },
): VoucherCheck {
  const event = parseEvent(raw);
  if (!event || event.kind !== VOUCHER_KIND) {
    return forged(`not a voucher (a kind ${VOUCHER_KIND} Nostr event)`);
  }
  // The signer first: a voucher from anyone else is refused without any signature work.
  if (event.pubkey !== opts.platformPubkey) {
    return forged("the voucher is not signed by the control plane's key");
  }
  if (!hasValidSignature(event, opts.verifyEvent)) {
    return forged("the voucher's id or signature is wrong");
  }
  let c: unknown;
  try {
    c = JSON.parse(event.content);
  } catch {
    return forged("the voucher's content is not JSON");
  }
  if (!isRecord(c)) return forged("the voucher's content is not an object");
  for (const [name, check] of Object.entries(FIELDS)) {
    if (!check(c[name])) return forged(`voucher ${name} is missing or invalid`);
  }
  if (
    Object.keys(c).length !== Object.keys(FIELDS).length ||
    canonicalJson(c as CanonicalValue) !== event.content
  ) {
    return forged("the voucher's content is not canonical");
  }
  const v = c as unknown as VoucherContent;
  if (
    tagValue(event, "p") !== v.consumer ||
    tagValue(event, "expiration") !== String(v.expires_at) ||
    !event.tags.some((t) => t[0] === "t" && t[1] === VOUCHER_TAG) ||
    v.created_at !== event.created_at || v.expires_at < v.created_at
  ) {
    return forged("the voucher's tags or times differ from its content");
  }
  if (opts.nowS > v.expires_at) {
    return { ok: false, code: "voucher_expired", message: "the voucher has expired" };
  }
  return { ok: true, voucher: { event, content: v } as VerifiedVoucher };
}
