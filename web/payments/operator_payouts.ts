// What the node API and the operator's pages share about an operator's money: the payout
// dependencies taken from the control plane, the published payout thresholds, and setting a
// payout address (validated per chain before it is stored).
import { type PayoutAddressRow, setPayoutAddress, type Sql } from "../../db/mod.ts";
import { type Coin, validatePayoutAddress } from "../../shared/mod.ts";
import type { WebConfig } from "../config.ts";
import type { ControlPlane } from "../control_plane.ts";
import { NANO_USD_PER_CENT, type PayoutDeps } from "./payouts.ts";

/** The dependencies `requestPayout` needs, from the control plane. */
export function payoutDepsOf(cp: ControlPlane): PayoutDeps {
  return {
    sql: cp.db.sql,
    processor: cp.processor,
    rates: cp.rates,
    minPayoutCents: cp.config.minPayoutCents,
    autoPayoutCents: cp.config.autoPayoutCents,
    log: cp.log,
  };
}

/** The smallest payout and the automatic payout threshold (null: off), in nano-USD. */
export function payoutThresholds(
  config: Pick<WebConfig, "minPayoutCents" | "autoPayoutCents">,
): { minPayout: bigint; autoPayout: bigint | null } {
  const auto = config.autoPayoutCents;
  return {
    minPayout: BigInt(config.minPayoutCents) * NANO_USD_PER_CENT,
    autoPayout: auto > 0 ? BigInt(Math.max(auto, config.minPayoutCents)) * NANO_USD_PER_CENT : null,
  };
}

/** Stores an operator's address for a coin when it is valid for the coin's chain. */
export async function savePayoutAddress(
  sql: Sql,
  a: { nodePubkey: string; coin: Coin; address: string },
): Promise<{ ok: true; row: PayoutAddressRow } | { ok: false; reason: string }> {
  const check = validatePayoutAddress(a.coin, a.address);
  if (!check.ok) return { ok: false, reason: check.reason };
  return { ok: true, row: await setPayoutAddress(sql, { ...a, address: check.address }) };
}
