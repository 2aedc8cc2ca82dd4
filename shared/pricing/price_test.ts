import assert from "node:assert/strict";
import {
  DEFAULT_PRICES,
  formatUsd,
  jobCost,
  parseDecimal,
  PRICE_BOUNDS,
  priceOutOfBounds,
  splitFee,
} from "./price.ts";
import { VRAM_TIERS } from "../hardware/tiers.ts";

const vectors: {
  prompt: number;
  completion: number;
  promptPer1k: number;
  completionPer1k: number;
  cost: string;
}[] = JSON.parse(await Deno.readTextFile(new URL("./testdata/cost_vectors.json", import.meta.url)));

Deno.test("pricing - job cost matches the recorded vectors (rounded up to a nano-USD)", () => {
  for (const v of vectors) {
    const cost = jobCost({
      promptTokens: v.prompt,
      completionTokens: v.completion,
      promptPer1k: v.promptPer1k,
      completionPer1k: v.completionPer1k,
    });
    assert.equal(cost, BigInt(v.cost), JSON.stringify(v));
  }
});

Deno.test("pricing - one token at the lowest allowed price costs a non-zero amount", () => {
  for (const tier of VRAM_TIERS) {
    const min = PRICE_BOUNDS[tier].minPer1k;
    assert.ok(jobCost({ promptTokens: 1, completionTokens: 0, promptPer1k: min, completionPer1k: min }) > 0n);
  }
});

Deno.test("pricing - the fee split never creates or loses a nano-USD", () => {
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let i = 0; i < 5_000; i++) {
    const charged = BigInt(rand()) * BigInt(rand() % 1000);
    const bps = rand() % 10_001;
    const { platformFee, operatorShare } = splitFee(charged, bps);
    assert.equal(platformFee + operatorShare, charged);
    assert.ok(platformFee >= 0n && operatorShare >= 0n);
    assert.ok(platformFee * 10_000n <= charged * BigInt(bps)); // rounded down: favours the operator
  }
  assert.deepEqual(splitFee(6_600n, 1000), { platformFee: 660n, operatorShare: 5_940n });
  assert.deepEqual(splitFee(9n, 1000), { platformFee: 0n, operatorShare: 9n });
});

Deno.test("pricing - default prices are inside every tier's bounds; outside ones are explained", () => {
  for (const tier of VRAM_TIERS) {
    assert.equal(priceOutOfBounds(tier, DEFAULT_PRICES.promptPer1k), null);
    assert.equal(priceOutOfBounds(tier, DEFAULT_PRICES.completionPer1k), null);
  }
  assert.match(
    priceOutOfBounds("small", 999)!,
    /0\.000000999 USD .*small tier's bounds 0\.000001–0\.005 USD/,
  );
  assert.match(priceOutOfBounds("nano", 1.5)!, /outside/);
});

Deno.test("pricing - decimals parse exactly, without floats", () => {
  assert.equal(parseDecimal("1.5", 2), 150n);
  assert.equal(parseDecimal(0.1, 9), 100_000_000n);
  assert.equal(parseDecimal(1e-7, 9), 100n);
  assert.equal(parseDecimal("0.123456789123", 9), 123_456_789n);
  assert.equal(parseDecimal("12", 0), 12n);
  for (const bad of ["-1", "1,5", "", "abc", "1.2.3", Infinity, NaN, null, {}]) {
    assert.equal(parseDecimal(bad, 2), null, String(bad));
  }
  assert.equal(formatUsd(parseDecimal("10.25", 9)!), "10.25");
});
