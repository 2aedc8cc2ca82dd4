// CoinPayPortal webhooks: signature check (Stripe-style `X-CoinPay-Signature: t=<unix>,v1=<hex>`,
// v1 = HMAC-SHA256(secret, "<t>.<raw body>"), ±300 s) and the one boundary parser from the wire
// event to a branded `VerifiedWebhook`. Code that credits deposits accepts only that type.
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import { compileSchema, isRecord, type JsonSchema } from "../../shared/mod.ts";

declare const verified: unique symbol;

/** The event types CoinPayPortal documents; others may appear and are still verified. */
export const COINPAY_EVENT_TYPES = [
  "payment.confirmed",
  "payment.forwarded",
  "payment.expired",
  "payment.failed",
] as const;

/** A documented CoinPayPortal event type. */
export type CoinPayEventType = typeof COINPAY_EVENT_TYPES[number];

/** Whether an event type is one of the documented ones (callers ignore the rest). */
export function isCoinPayEventType(type: string): type is CoinPayEventType {
  return (COINPAY_EVENT_TYPES as readonly string[]).includes(type);
}

/**
 * A webhook whose signature and timestamp were checked and whose body matched the schema.
 * `type` is kept as sent, so an unknown event type is still verified: test it with
 * `isCoinPayEventType` and ignore the rest. Decimal amounts stay exact decimal strings.
 */
export type VerifiedWebhook = {
  /** `evt_…`; delivered up to 3 times, so handle each id once. */
  readonly id: string;
  readonly type: string;
  readonly paymentId: string;
  readonly status: string;
  /** USD, e.g. `"10.50"`. */
  readonly amountUsd: string;
  /** In the paid coin, e.g. `"0.000105"`; null when not (yet) known. */
  readonly amountCrypto: string | null;
  /** The paid coin as CoinPayPortal names it (not checked against our coin list). */
  readonly currency: string | null;
  readonly confirmations: number;
  readonly paymentAddress: string | null;
  readonly txHash: string | null;
  readonly merchantAmount: string | null;
  readonly platformFee: string | null;
  /** The metadata we sent at create time; non-string values are dropped (we only send strings). */
  readonly metadata: Readonly<Record<string, string>>;
  readonly createdAt: Date;
  readonly businessId: string;
  readonly [verified]: true;
};

/** Options for `verifyCoinPayWebhook`; defaults: the clock now, 300 s tolerance. */
export interface VerifyWebhookOptions {
  nowSec?: number;
  toleranceSec?: number;
}

/** The verification outcome: never throws. */
export type WebhookVerification = { ok: true; event: VerifiedWebhook } | { ok: false; reason: string };

const DEFAULT_TOLERANCE_SEC = 300;
const SIGNATURE_HEX = /^[0-9a-fA-F]{64}$/;
const UNIX_SECONDS = /^\d{1,12}$/;
const DECIMAL = /^\d+(\.\d+)?$/;

/** The `X-CoinPay-Signature` header value for a body, as CoinPayPortal sends it. */
export function signCoinPayWebhook(rawBody: string, secret: string, tSec: number): string {
  return `t=${tSec},v1=${bytesToHex(mac(secret, tSec, utf8ToBytes(rawBody)))}`;
}

/**
 * Checks a webhook's signature and age, then parses its body; returns a reason instead of throwing.
 *
 * @example
 * const res = verifyCoinPayWebhook(new Uint8Array(await req.arrayBuffer()),
 *   req.headers.get("X-CoinPay-Signature"), secret);
 * if (!res.ok) return new Response(res.reason, { status: 401 });
 */
export function verifyCoinPayWebhook(
  rawBody: Uint8Array,
  signatureHeader: string | null,
  secret: string,
  opts: VerifyWebhookOptions = {},
): WebhookVerification {
  try {
    if (!secret) return { ok: false, reason: "no webhook secret configured" };
    const header = parseSignatureHeader(signatureHeader);
    if (typeof header === "string") return { ok: false, reason: header };
    const nowSec = opts.nowSec ?? Math.floor(Date.now() / 1000);
    const toleranceSec = opts.toleranceSec ?? DEFAULT_TOLERANCE_SEC;
    if (Math.abs(nowSec - header.t) > toleranceSec) {
      return { ok: false, reason: "signature timestamp outside tolerance" };
    }
    const expected = mac(secret, header.t, rawBody);
    // Several v1 values are allowed while a secret is being rotated; any match verifies.
    if (!header.v1.some((sig) => equalBytes(sig, expected))) {
      return { ok: false, reason: "signature mismatch" };
    }
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(rawBody));
    } catch {
      return { ok: false, reason: "body is not JSON" };
    }
    return parseWebhookEvent(json);
  } catch (err) {
    return { ok: false, reason: `verification failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function mac(secret: string, tSec: number, body: Uint8Array): Uint8Array {
  return hmac(sha256, utf8ToBytes(secret), concatBytes(utf8ToBytes(`${tSec}.`), body));
}

/** Constant-time for equal lengths (both are 32-byte HMACs here). */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function parseSignatureHeader(header: string | null): { t: number; v1: Uint8Array[] } | string {
  if (!header) return "missing signature header";
  let t: number | null = null;
  const v1: Uint8Array[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) return "garbled signature header";
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t") {
      if (t !== null || !UNIX_SECONDS.test(value)) return "garbled signature timestamp";
      t = Number(value);
    } else if (key === "v1") {
      if (!SIGNATURE_HEX.test(value)) return "signature is not 64 hex digits";
      v1.push(hexToBytes(value.toLowerCase()));
    } else if (!key) {
      return "garbled signature header";
    } // Other schemes (v0, future vN) are ignored, as Stripe-style verifiers do.
  }
  if (t === null) return "signature header has no timestamp";
  if (v1.length === 0) return "signature header has no v1 signature";
  return { t, v1 };
}

const WIRE_DECIMAL: JsonSchema = {
  anyOf: [{ type: "number", minimum: 0 }, { type: "string", pattern: "^\\s*\\d+(\\.\\d+)?\\s*$" }],
  description: "A non-negative decimal (number or string).",
};
const OPTIONAL_DECIMAL: JsonSchema = { anyOf: [{ type: "null" }, WIRE_DECIMAL] };
const OPTIONAL_STRING: JsonSchema = { type: ["string", "null"] };
const NON_EMPTY: JsonSchema = { type: "string", minLength: 1 };

/**
 * A CoinPayPortal event's wire shape (published in /openapi.json, compiled into the parser below).
 * `errorMessage` names the field at fault in the rejection reason.
 */
export const COINPAY_EVENT_SCHEMA: JsonSchema = {
  type: "object",
  title: "CoinPayEvent",
  required: ["id", "type", "business_id", "created_at", "data"],
  properties: {
    id: { type: "string", pattern: "^evt_.", errorMessage: "invalid event: id" },
    type: { ...NON_EMPTY, examples: COINPAY_EVENT_TYPES, errorMessage: "invalid event: type" },
    business_id: { ...NON_EMPTY, errorMessage: "invalid event: business_id" },
    created_at: {
      type: ["string", "number"],
      description: "ISO 8601 or unix seconds.",
      errorMessage: "invalid event: created_at",
    },
    data: {
      type: "object",
      required: ["payment_id", "status", "amount_usd"],
      properties: {
        payment_id: { ...NON_EMPTY, errorMessage: "invalid event: {param}" },
        status: { ...NON_EMPTY, errorMessage: "invalid event: {param}" },
        amount_usd: { ...WIRE_DECIMAL, errorMessage: "invalid event: {param}" },
        amount_crypto: { ...OPTIONAL_DECIMAL, errorMessage: "invalid event: {param}" },
        merchant_amount: { ...OPTIONAL_DECIMAL, errorMessage: "invalid event: {param}" },
        platform_fee: { ...OPTIONAL_DECIMAL, errorMessage: "invalid event: {param}" },
        currency: { ...OPTIONAL_STRING, errorMessage: "invalid event: {param}" },
        payment_address: { ...OPTIONAL_STRING, errorMessage: "invalid event: {param}" },
        tx_hash: { ...OPTIONAL_STRING, errorMessage: "invalid event: {param}" },
        confirmations: {
          type: ["integer", "null"],
          minimum: 0,
          maximum: Number.MAX_SAFE_INTEGER,
          errorMessage: "invalid event: {param}",
        },
        metadata: { type: ["object", "null"], errorMessage: "invalid event: {param}" },
      },
      errorMessage: "invalid event: data",
    },
  },
  errorMessage: "invalid event: not an object",
};

const checkEvent = compileSchema(COINPAY_EVENT_SCHEMA);

/** The one boundary function from the wire event (snake_case) to `VerifiedWebhook`. */
function parseWebhookEvent(json: unknown): WebhookVerification {
  const fail = (reason: string): WebhookVerification => ({ ok: false, reason: `invalid event: ${reason}` });
  const issue = checkEvent(json);
  if (issue !== null) return { ok: false, reason: issue.message };
  const { id, type, data, created_at, business_id } = json as {
    id: string;
    type: string;
    business_id: string;
    created_at: unknown;
    data: Record<string, unknown> & { payment_id: string; status: string };
  };
  const createdAt = parseTime(created_at);
  if (!createdAt) return fail("created_at");
  // The schema admitted these; the guards keep the conversions and the schema in step.
  const amountUsd = parseWireDecimal(data.amount_usd);
  const amountCrypto = optionalDecimal(data.amount_crypto);
  const merchantAmount = optionalDecimal(data.merchant_amount);
  const platformFee = optionalDecimal(data.platform_fee);
  if (amountUsd === null) return fail("data.amount_usd");
  if (amountCrypto === undefined) return fail("data.amount_crypto");
  if (merchantAmount === undefined) return fail("data.merchant_amount");
  if (platformFee === undefined) return fail("data.platform_fee");
  const currency = optionalString(data.currency) as string | null;
  const paymentAddress = optionalString(data.payment_address) as string | null;
  const txHash = optionalString(data.tx_hash) as string | null;
  const confirmations = (data.confirmations ?? 0) as number;
  const metadata: Record<string, string> = {};
  if (isRecord(data.metadata)) {
    for (const [k, v] of Object.entries(data.metadata)) if (typeof v === "string") metadata[k] = v;
  }
  const event = {
    id,
    type,
    paymentId: data.payment_id,
    status: data.status,
    amountUsd,
    amountCrypto,
    currency,
    confirmations,
    paymentAddress,
    txHash,
    merchantAmount,
    platformFee,
    metadata,
    createdAt,
    businessId: business_id,
  } as Omit<VerifiedWebhook, typeof verified> as VerifiedWebhook;
  return { ok: true, event };
}

/**
 * A non-negative decimal amount from the wire (JSON number or decimal string) as an exact decimal
 * string, or null. Numbers keep their shortest round-trip digits (`1e-7` becomes `"0.0000001"`).
 */
export function parseWireDecimal(value: unknown): string | null {
  let s: string;
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) return null;
    s = expandExponent(String(value));
  } else if (typeof value === "string") {
    s = value.trim();
  } else {
    return null;
  }
  return DECIMAL.test(s) ? s : null;
}

function expandExponent(s: string): string {
  const m = /^(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const digits = m[1] + (m[2] ?? "");
  const point = m[1].length + Number(m[3]);
  if (point <= 0) return `0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return digits + "0".repeat(point - digits.length);
  return `${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** undefined = present but invalid; null = absent or null. */
function optionalDecimal(value: unknown): string | null | undefined {
  if (value === undefined || value === null) return null;
  return parseWireDecimal(value) ?? undefined;
}

function optionalString(value: unknown): string | null | undefined {
  if (value === undefined || value === null || value === "") return null;
  return typeof value === "string" ? value : undefined;
}

/** ISO 8601 string or unix seconds. */
function parseTime(value: unknown): Date | null {
  const ms = typeof value === "string"
    ? Date.parse(value)
    : typeof value === "number" && Number.isFinite(value)
    ? value * 1000
    : NaN;
  return Number.isFinite(ms) ? new Date(ms) : null;
}
