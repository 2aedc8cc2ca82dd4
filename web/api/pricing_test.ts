// GET /api/pricing: the published fee, per-tier price bounds, coins and money limits, readable
// without an API key.
import assert from "node:assert/strict";
import { parseDecimal, PRICE_BOUNDS, SUPPORTED_COINS, VRAM_TIERS } from "../../shared/mod.ts";
import { openTestControlPlane } from "../../testing/control_plane.ts";
import type { WebConfig } from "../config.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

async function getPricing(config: Partial<WebConfig> = {}): Promise<{ status: number; json: Json }> {
  const tcp = await openTestControlPlane({ serve: true, config, fundNanoUsd: 0n });
  try {
    const res = await fetch(`${tcp.server!.url}/api/pricing`);
    return { status: res.status, json: await res.json() };
  } finally {
    await tcp.close();
  }
}

/** A published USD amount as nano-USD (exact: no floats). */
function nano(usd: string): bigint {
  const n = parseDecimal(usd, 9);
  assert.notEqual(n, null, `not a USD amount: ${usd}`);
  return n!;
}

Deno.test("pricing - anyone can read the default fee, the bounds of all six tiers, the coins and the limits", async () => {
  const { status, json } = await getPricing();
  assert.equal(status, 200);
  assert.equal(json.currency, "USD");
  assert.equal(json.fee_bps, 1000);
  assert.equal(json.fee_percent, "10");

  assert.deepEqual(Object.keys(json.price_bounds).sort(), [...VRAM_TIERS].sort());
  assert.equal(VRAM_TIERS.length, 6);
  for (const tier of VRAM_TIERS) {
    const b = json.price_bounds[tier];
    const min = nano(b.min_per_1k_usd);
    const max = nano(b.max_per_1k_usd);
    assert.ok(min > 0n, `${tier}: a billed token is never free`);
    assert.ok(min <= max, `${tier}: min ${b.min_per_1k_usd} > max ${b.max_per_1k_usd}`);
    assert.equal(min, BigInt(PRICE_BOUNDS[tier].minPer1k), tier);
    assert.equal(max, BigInt(PRICE_BOUNDS[tier].maxPer1k), tier);
  }

  assert.deepEqual(json.coins, [...SUPPORTED_COINS]);
  assert.ok(json.coins.includes("USDC_SOL"));
  assert.equal(json.min_deposit_usd, "1");
  assert.equal(json.max_deposit_usd, "10000");
  assert.equal(json.min_payout_usd, "10");
  assert.ok(nano(json.min_deposit_usd) <= nano(json.max_deposit_usd));
  assert.equal(typeof json.default_max_tokens, "number");
});

Deno.test("pricing - a configured fee of 750 basis points is what is published", async () => {
  const { status, json } = await getPricing({ feeBps: 750, minPayoutCents: 2550, autoPayoutCents: 0 });
  assert.equal(status, 200);
  assert.equal(json.fee_bps, 750);
  assert.equal(json.fee_percent, "7.5");
  assert.equal(json.min_payout_usd, "25.5");
  assert.equal(json.auto_payout_usd, null);
});
