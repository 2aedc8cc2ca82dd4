import assert from "node:assert/strict";
import { isVramTier, tierAtLeast, vramTierOf } from "./tiers.ts";

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
