// The coins a consumer can pay with and an operator can be paid in: CoinPayPortal's `blockchain`
// codes, each with the chain whose address rules apply to it.

/** Address families, one per chain rule set (see addresses.ts). */
export type Chain = "BTC" | "DOGE" | "EVM" | "SOL" | "XRP" | "ADA";

/** Every supported coin code, as CoinPayPortal spells it, with its chain. */
export const COIN_CHAINS = {
  BTC: "BTC",
  ETH: "EVM",
  SOL: "SOL",
  POL: "EVM",
  BNB: "EVM",
  XRP: "XRP",
  ADA: "ADA",
  DOGE: "DOGE",
  USDC_ETH: "EVM",
  USDC_SOL: "SOL",
  USDC_POL: "EVM",
  USDC_BASE: "EVM",
  USDT_ETH: "EVM",
  USDT_SOL: "SOL",
  USDT_POL: "EVM",
} as const satisfies Record<string, Chain>;

/** A supported coin code, e.g. `"BTC"` or `"USDC_SOL"`. */
export type Coin = keyof typeof COIN_CHAINS;

/** All supported coin codes, in a stable order. */
export const SUPPORTED_COINS: readonly Coin[] = Object.keys(COIN_CHAINS) as Coin[];

/** Whether `code` is a supported coin (exact, upper-case). */
export function isCoin(code: unknown): code is Coin {
  return typeof code === "string" && Object.hasOwn(COIN_CHAINS, code);
}

/** The chain whose address rules apply to a coin. */
export function chainOf(coin: Coin): Chain {
  return COIN_CHAINS[coin];
}
