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
