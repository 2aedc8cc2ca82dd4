import assert from "node:assert/strict";
import { isVramTier, tierAtLeast, VRAM_TIERS, vramTierMinMb, vramTierOf } from "./tiers.ts";

Deno.test("tiers - VRAM buckets follow the published table, boundaries go up", () => {
  const cases: [number, string][] = [
    [0, "nano"],
    [4095, "nano"],
    [4096, "small"],
    [8191, "small"],
    [8192, "medium"],
    [16384, "large"],
    [24564, "large"],
    [32768, "x1"],
    [81559, "x1"], // an H100 80 GB reports 81559 MB (79.6 GB): the whitepaper puts it in x1
    [81920, "xx1"],
    [8 * 81559, "xx1"],
  ];
  for (const [mb, tier] of cases) assert.equal(vramTierOf(mb), tier, `${mb} MB`);
});

Deno.test("tiers - ordering and guards", () => {
  assert.ok(tierAtLeast("large", "medium"));
  assert.ok(tierAtLeast("large", "large"));
  assert.ok(!tierAtLeast("small", "medium"));
  assert.ok(isVramTier("x1"));
  assert.ok(!isVramTier("huge"));
  assert.ok(!isVramTier(3));
});

Deno.test("tiers - the list is ordered, and nonsense VRAM is nano", () => {
  assert.deepEqual([...VRAM_TIERS], ["nano", "small", "medium", "large", "x1", "xx1"]);
  VRAM_TIERS.forEach((tier, i) => {
    assert.ok(isVramTier(tier));
    VRAM_TIERS.forEach((min, j) => assert.equal(tierAtLeast(tier, min), i >= j, `${tier} >= ${min}`));
  });
  for (const mb of [-1, Number.NaN, Number.NEGATIVE_INFINITY]) assert.equal(vramTierOf(mb), "nano");
  assert.equal(vramTierOf(Number.POSITIVE_INFINITY), "xx1");
  assert.ok(!isVramTier("XL") && !isVramTier(null) && !isVramTier(undefined));
});

Deno.test("tiers - each tier's least VRAM is its lower boundary", () => {
  for (const tier of VRAM_TIERS) {
    assert.equal(vramTierOf(vramTierMinMb(tier)), tier);
    if (tier !== "nano") assert.notEqual(vramTierOf(vramTierMinMb(tier) - 1), tier);
  }
  assert.equal(vramTierMinMb("nano"), 0);
  assert.equal(vramTierMinMb("large"), 16_384);
});
