import assert from "node:assert/strict";
import { ownerOfJob } from "./direct_peers.ts";

Deno.test("direct peers - a direct job's id names its instance; a lone instance's names none", () => {
  const hex = "0123456789abcdef".repeat(2);
  assert.equal(ownerOfJob(`job_${hex}-cp_1a2b3c4d`), "cp_1a2b3c4d");
  assert.equal(ownerOfJob(`job_${hex}`), null);
  assert.equal(ownerOfJob(`job_${hex}-`), null);
  // Nothing that could become another NATS subject token.
  assert.equal(ownerOfJob(`job_${hex}-cp.a`), null);
  assert.equal(ownerOfJob(`job_${hex}-cp_a>`), null);
  assert.equal(ownerOfJob("rj_whatever-cp_a"), null);
});
