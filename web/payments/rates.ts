// Exchange rates for payouts: USD per unit of a coin, as a decimal string (never a float). The
// platform converts at the prevailing rate with no spread, so the rate is recorded on each payout.
import type { Coin } from "../../shared/mod.ts";

/** Where the prevailing rate comes from. */
export interface RateProvider {
  /** USD per one unit of `coin`, e.g. "97000.12" for BTC. */
  usdPerUnit(coin: Coin): Promise<string>;
}

/** Reference rates for the local network and tests (stablecoins at 1; others fixed, for display). */
export const REFERENCE_USD_RATES: Readonly<Record<Coin, string>> = {
  BTC: "97000",
  ETH: "3500",
  SOL: "150",
  POL: "0.5",
  BNB: "600",
  XRP: "2.2",
  ADA: "0.9",
  DOGE: "0.35",
  USDC_ETH: "1",
  USDC_SOL: "1",
  USDC_POL: "1",
  USDC_BASE: "1",
  USDT_ETH: "1",
  USDT_SOL: "1",
  USDT_POL: "1",
};

/** A rate provider with fixed rates (the reference table unless others are given). */
export function staticRates(rates: Readonly<Record<Coin, string>> = REFERENCE_USD_RATES): RateProvider {
  return { usdPerUnit: (coin) => Promise.resolve(rates[coin]) };
}
