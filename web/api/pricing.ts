// `GET /api/pricing`: the published economics, readable by anyone — the platform fee, the price
// bounds per VRAM tier that node prices must stay within, the coins, and the money limits.
import type { AppContext } from "../app_env.ts";
import { formatUsd, PRICE_BOUNDS, SUPPORTED_COINS, VRAM_TIERS } from "../../shared/mod.ts";
import type { ControlPlane } from "../control_plane.ts";

const NANO_PER_CENT = 10_000_000n;

/** The handler for the published pricing. */
export function getPricing(cp: ControlPlane) {
  return (c: AppContext): Response => {
    const cfg = cp.config;
    const cents = (n: number) => formatUsd(BigInt(n) * NANO_PER_CENT);
    return c.json({
      currency: "USD",
      price_unit: "USD per 1,000 tokens",
      fee_bps: cfg.feeBps,
      fee_percent: (cfg.feeBps / 100).toString(),
      rounding: "A job costs (prompt × prompt price + completion × completion price) / 1000, rounded up " +
        "to 0.000000001 USD; the fee is cost × fee_bps / 10000 rounded down, the operator gets the rest.",
      price_bounds: Object.fromEntries(
        VRAM_TIERS.map((t) => [t, {
          min_per_1k_usd: formatUsd(PRICE_BOUNDS[t].minPer1k),
          max_per_1k_usd: formatUsd(PRICE_BOUNDS[t].maxPer1k),
        }]),
      ),
      coins: SUPPORTED_COINS,
      min_deposit_usd: cents(cfg.minDepositCents),
      max_deposit_usd: cents(cfg.maxDepositCents),
      min_payout_usd: cents(cfg.minPayoutCents),
      auto_payout_usd: cfg.autoPayoutCents > 0 ? cents(cfg.autoPayoutCents) : null,
      default_max_tokens: cfg.defaultMaxTokens,
    });
  };
}
