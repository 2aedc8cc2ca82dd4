import assert from "node:assert/strict";
import { percentile } from "./percentile.ts";

Deno.test("percentile - picks the nearest rank of a sorted sample", () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(xs, 50), 51);
  assert.equal(percentile(xs, 99), 100);
  assert.equal(percentile(xs, 100), 100);
  assert.equal(percentile(xs, 0), 1);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
});
