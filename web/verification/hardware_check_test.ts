import assert from "node:assert/strict";
import { type HardwareFacts, hardwareVerdict } from "./hardware_check.ts";

const node = (
  pubkey: string,
  tier: HardwareFacts["tier"],
  tps: number | null,
  samples = 50,
): HardwareFacts => ({
  pubkey,
  tier,
  models: ["m"],
  tokensPerSecond: tps,
  samples,
});

Deno.test("hardware check - a node declaring a big card but far slower than a small one fails", () => {
  const liar = node("a", "x1", 10);
  const v = hardwareVerdict(liar, [liar, node("b", "medium", 60), node("c", "small", 45)], "m");
  assert.equal(v?.pass, false);
  assert.match(v!.detail, /declares x1 but serves m at 10\.0 tok\/s against 60\.0 tok\/s on a medium node/);
});

Deno.test("hardware check - comparable speed passes; no judgement without peers or receipts", () => {
  const big = node("a", "large", 30);
  assert.equal(hardwareVerdict(big, [node("b", "small", 100)], "m")?.pass, true);
  // A peer one tier down, one on another model, one with too few receipts: nothing to compare.
  assert.equal(hardwareVerdict(big, [node("b", "medium", 500)], "m"), null);
  assert.equal(hardwareVerdict(big, [{ ...node("b", "nano", 500), models: ["other"] }], "m"), null);
  assert.equal(hardwareVerdict(big, [node("b", "nano", 500, 5)], "m"), null);
  assert.equal(hardwareVerdict(node("a", "large", 1, 3), [node("b", "nano", 500)], "m"), null);
  assert.equal(hardwareVerdict(node("a", "large", null), [node("b", "nano", 500)], "m"), null);
});
