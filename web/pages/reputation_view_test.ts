import assert from "node:assert/strict";
import type { ReceiptAgainst } from "../../db/mod.ts";
import { byScore, PRIOR_SCORE, PRIOR_SUSPICION, reasonOf, reputationOf } from "./reputation_view.ts";

Deno.test("reputation view - a node without a computed reputation shows the prior", () => {
  for (const node of [undefined, {}, { reputation: { score: Number.NaN, suspicion: 0 } }]) {
    const r = reputationOf(node);
    assert.equal(r.prior, true);
    assert.equal(r.score, PRIOR_SCORE);
    assert.equal(r.suspicion, PRIOR_SUSPICION);
    assert.equal(r.samples, 0);
  }
});

Deno.test("reputation view - a carried reputation is shown as it is", () => {
  const r = reputationOf({
    reputation: {
      score: 0.42,
      suspicion: 0.3,
      samples: 17,
      ttftMs: 120,
      tokensPerSecond: null,
      updatedAt: 1,
    },
  });
  assert.deepEqual(r, {
    score: 0.42,
    suspicion: 0.3,
    reliability: null,
    samples: 17,
    ttftMs: 120,
    tokensPerSecond: null,
    prior: false,
  });
  assert.equal(
    reputationOf({ reputation: { score: 1, suspicion: 0, samples: 1, reliability: 0.9 } }).reliability,
    0.9,
  );
  // The router's default for a node with no receipt yet is still the prior.
  const fresh = reputationOf({ reputation: { score: 0.75, suspicion: 0.01, samples: 0, ttftMs: null } });
  assert.equal(fresh.prior, true);
  assert.equal(fresh.score, 0.75); // as carried
});

Deno.test("reputation view - nodes sort by score, then name and key", () => {
  const n = (name: string, pubkey: string, score: number) => ({
    name,
    pubkey,
    reputation: reputationOf({ reputation: { score, suspicion: 0 } }),
  });
  const sorted = [n("b", "2", 0.5), n("a", "3", 0.9), n("b", "1", 0.5), n("a", "4", 0.5)].sort(byScore);
  assert.deepEqual(sorted.map((x) => x.pubkey), ["3", "4", "1", "2"]);
});

Deno.test("reputation view - each reason a receipt counted against a node is said", () => {
  const base: ReceiptAgainst = {
    jobId: "job_1",
    seq: 1,
    createdAt: 0,
    outcome: "success",
    cancelledBy: null,
    errorCode: null,
    signed: true,
    meteringDisagrees: false,
    artifactMismatch: false,
  };
  assert.equal(reasonOf({ ...base, outcome: "failure", errorCode: "engine_error" }), "failed (engine_error)");
  assert.equal(reasonOf({ ...base, outcome: "failure" }), "failed");
  assert.equal(reasonOf({ ...base, outcome: "timeout" }), "timed out");
  assert.equal(reasonOf({ ...base, outcome: "cancelled", cancelledBy: "node" }), "cancelled by the node");
  assert.equal(
    reasonOf({ ...base, signed: false, meteringDisagrees: true, artifactMismatch: true }),
    "the node did not sign its receipt; the usage it reported disagrees with our count; " +
      "its output hash differs from what the consumer received",
  );
});
