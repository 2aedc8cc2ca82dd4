import type { VramTier } from "../hardware/tiers.ts";

// Money unit: 1 nano-USD (1e-9 USD). The lowest published price, 1,000 nano-USD per 1k tokens,
// is 1 nano-USD per token, so every billed token is a non-zero integer amount.

/** Nano-USD in one US dollar. */
export const NANO_USD_PER_USD = 1_000_000_000n;

/** The default price a node asks, in nano-USD per 1,000 tokens ($0.0002 prompt, $0.0006 completion). */
export const DEFAULT_PRICES = { promptPer1k: 200_000, completionPer1k: 600_000 } as const;

/**
 * Formats nano-USD as a decimal USD string without floats.
 * @example formatUsd(200_000n) === "0.0002"
 */
export function formatUsd(nanoUsd: bigint | number): string {
  const n = BigInt(nanoUsd);
  const sign = n < 0n ? "-" : "";
  const abs = n < 0n ? -n : n;
  const whole = abs / NANO_USD_PER_USD;
  const frac = (abs % NANO_USD_PER_USD).toString().padStart(9, "0").replace(/0+$/, "");
  return sign + whole.toString() + (frac ? "." + frac : "");
}

/** The platform fee by default: 10 %, in basis points. */
export const DEFAULT_FEE_BPS = 1000;

/** Bounds a node's per-1k-token price must stay within, in nano-USD, inclusive. */
export interface PriceBounds {
  minPer1k: number;
  maxPer1k: number;
}

/**
 * The published price bounds per VRAM tier (nano-USD per 1,000 tokens, prompt and completion
 * alike). The floor, 1,000, is 1 nano-USD per token: no billed token is ever worth zero.
 */
export const PRICE_BOUNDS: Readonly<Record<VramTier, PriceBounds>> = {
  nano: { minPer1k: 1_000, maxPer1k: 2_000_000 },
  small: { minPer1k: 1_000, maxPer1k: 5_000_000 },
  medium: { minPer1k: 1_000, maxPer1k: 10_000_000 },
  large: { minPer1k: 1_000, maxPer1k: 20_000_000 },
  x1: { minPer1k: 1_000, maxPer1k: 50_000_000 },
  xx1: { minPer1k: 1_000, maxPer1k: 100_000_000 },
};

/** Why a price is outside its tier's bounds, or null when it is inside. */
export function priceOutOfBounds(tier: VramTier, per1k: number, what = "price"): string | null {
  const b = PRICE_BOUNDS[tier];
  if (Number.isSafeInteger(per1k) && per1k >= b.minPer1k && per1k <= b.maxPer1k) return null;
  return `${what} ${Number.isSafeInteger(per1k) ? formatUsd(per1k) : String(per1k)} USD per 1k tokens ` +
    `is outside the ${tier} tier's bounds ${formatUsd(b.minPer1k)}–${formatUsd(b.maxPer1k)} USD ` +
    `(see GET /api/pricing)`;
}

/** Token counts and the per-1k prices they are billed at. */
export interface CostInput {
  promptTokens: number;
  completionTokens: number;
  promptPer1k: number | bigint;
  completionPer1k: number | bigint;
}

/**
 * The cost of a job in nano-USD: (prompt × prompt price + completion × completion price) / 1000,
 * rounded UP to a whole nano-USD (so at most one nano-USD per job is added by rounding).
 * @example jobCost({ promptTokens: 3, completionTokens: 0, promptPer1k: 1_500, completionPer1k: 0 }) === 5n
 */
export function jobCost(c: CostInput): bigint {
  const milli = BigInt(c.promptTokens) * BigInt(c.promptPer1k) +
    BigInt(c.completionTokens) * BigInt(c.completionPer1k);
  return (milli + 999n) / 1000n;
}

/**
 * Splits a charge between platform and operator: the fee is charge × bps / 10,000 rounded DOWN,
 * the operator gets the rest, so the two always add up to the charge exactly.
 */
export function splitFee(charged: bigint, feeBps: number): { platformFee: bigint; operatorShare: bigint } {
  const platformFee = charged * BigInt(feeBps) / 10_000n;
  return { platformFee, operatorShare: charged - platformFee };
}

/**
 * Parses a non-negative decimal string or number into an integer scaled by 10^decimals,
 * rounding DOWN past `decimals`; null when it is not a plain decimal.
 * @example parseDecimal("1.5", 2) === 150n
 */
export function parseDecimal(value: unknown, decimals: number): bigint | null {
  const text = typeof value === "number" ? (Number.isFinite(value) ? String(value) : "") : value;
  if (typeof text !== "string") return null;
  // Numbers like 1e-7 print in exponent form; spell them out through toFixed.
  const plain = /e/i.test(text) && typeof value === "number" ? value.toFixed(20) : text.trim();
  const m = /^(\d+)(?:\.(\d*))?$/.exec(plain);
  if (!m) return null;
  const frac = (m[2] ?? "").padEnd(decimals, "0").slice(0, decimals);
  return BigInt(m[1]) * 10n ** BigInt(decimals) + (frac ? BigInt(frac) : 0n);
}
