import assert from "node:assert/strict";
import { promptBound, settleDirect } from "./settle_rule.ts";

const t = (prompt_tokens: number, completion_tokens: number) => ({ prompt_tokens, completion_tokens });
const base = { promptTokens: 100, maxTokens: 200 };

Deno.test("direct settlement - agreeing counts bill the node's", () => {
  const s = settleDirect({ ...base, receipt: { usage: t(103, 150), outcome: "success" }, ack: t(100, 148) });
  assert.deepEqual(s, {
    billed: { prompt: 103, completion: 150 },
    status: "completed",
    errorCode: null,
    disagrees: false,
  });
});

Deno.test("direct settlement - disagreeing counts bill the lower of each, flagged", () => {
  const s = settleDirect({ ...base, receipt: { usage: t(100, 190), outcome: "success" }, ack: t(101, 40) });
  assert.deepEqual(s.billed, { prompt: 100, completion: 40 });
  assert.equal(s.disagrees, true);
});

Deno.test("direct settlement - no ack bills the node's within the ticket's bounds, flagged", () => {
  const s = settleDirect({ ...base, receipt: { usage: t(5000, 9000), outcome: "success" }, ack: null });
  assert.deepEqual(s.billed, { prompt: promptBound(100), completion: 200 });
  assert.equal(promptBound(100), 141);
  assert.equal(s.errorCode, "no_consumer_ack");
});

Deno.test("direct settlement - no node receipt bills nothing", () => {
  const s = settleDirect({ ...base, receipt: null, ack: t(100, 20) });
  assert.deepEqual(s.billed, { prompt: 0, completion: 0 });
  assert.equal(s.errorCode, "no_node_receipt");
});

Deno.test("direct settlement - an ack that opened nothing bills nothing; a claimed success is refused", () => {
  const refused = settleDirect({
    ...base,
    receipt: { usage: t(10, 3), outcome: "success" },
    ack: { ...t(10, 0), artifact_hash: null },
  });
  assert.deepEqual(refused, {
    billed: { prompt: 0, completion: 0 },
    status: "failed",
    errorCode: "answer_refused",
    disagrees: true,
  });
  // A consumer that left before the first frame: the node's own outcome stands, nothing billed.
  const left = settleDirect({
    ...base,
    receipt: { usage: t(10, 0), outcome: "cancelled" },
    ack: { ...t(10, 0), artifact_hash: null },
  });
  assert.deepEqual(left, {
    billed: { prompt: 0, completion: 0 },
    status: "cancelled",
    errorCode: null,
    disagrees: false,
  });
});
