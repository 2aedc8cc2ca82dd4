import assert from "node:assert/strict";
import {
  computeReputation,
  DEFAULT_REPUTATION_HALF_LIFE_S,
  type ReputationReceipt,
  type ReputationVerification,
} from "./reputation.ts";

function assertAlmostEquals(actual: number, expected: number, tolerance: number): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${actual} is not within ${tolerance} of ${expected}`);
}
const assertEquals = (a: unknown, b: unknown, m = "") => assert.deepEqual(a, b, m);

const H = DEFAULT_REPUTATION_HALF_LIFE_S;
const T = 1_800_000_000;
const at = { at: T, halfLifeS: H };

function receipt(over: Partial<ReputationReceipt> = {}): ReputationReceipt {
  return {
    createdAt: T,
    outcome: "success",
    cancelledBy: null,
    signed: true,
    meteringDisagrees: false,
    artifactMismatch: false,
    ttftMs: 100,
    durationMs: 1100,
    completionTokens: 50,
    ...over,
  };
}

const fail = (createdAt = T): ReputationVerification => ({ createdAt, result: "fail" });
const pass = (createdAt = T): ReputationVerification => ({ createdAt, result: "pass" });

Deno.test("reputation - a new node starts at reliability 0.75 and suspicion 0.01", () => {
  const r = computeReputation([], [], at);
  assertEquals(r.formula, 1);
  assertAlmostEquals(r.reliability, 0.75, 1e-15);
  assertAlmostEquals(r.suspicion, 0.01, 1e-15);
  assertAlmostEquals(r.score, 0.7425, 1e-15);
  assertEquals(r.samples, 0);
  assertEquals(r.components.ttftMs, null);
  assertEquals(r.components.tokensPerSecond, null);
});

Deno.test("reputation - a receipt one half-life old weighs half", () => {
  const r = computeReputation([receipt({ outcome: "failure", createdAt: T - H })], [], at);
  assertAlmostEquals(r.components.bad, 0.5, 1e-15);
  assertAlmostEquals(r.components.failures, 0.5, 1e-15);
  assertAlmostEquals(r.reliability, 3 / 4.5, 1e-15);
  const older = computeReputation([receipt({ outcome: "failure", createdAt: T - 3 * H })], [], at);
  assertAlmostEquals(older.components.bad, 0.125, 1e-15);
  // Items stamped after T are not counted: the score is what was known at T.
  const future = computeReputation([receipt({ createdAt: T + 1 })], [fail(T + 1)], at);
  assertEquals([future.samples, future.suspicion], [0, computeReputation([], [], at).suspicion]);
  assertAlmostEquals(computeReputation([receipt()], [], at).components.good, 1, 1e-15);
});

Deno.test("reputation - good receipts raise reliability towards 1", () => {
  const r = computeReputation(Array.from({ length: 96 }, () => receipt()), [], at);
  assertAlmostEquals(r.reliability, 99 / 100, 1e-15);
  assertAlmostEquals(r.samples, 96, 1e-12);
});

Deno.test("reputation - one fresh failed verification makes a node about even odds, two almost sure", () => {
  assertAlmostEquals(computeReputation([], [fail()], at).suspicion, 100 / 199, 1e-12);
  const two = computeReputation([], [fail(), fail()], at);
  assertAlmostEquals(two.suspicion, 10_000 / 10_099, 1e-12);
  assertAlmostEquals(two.score, 0.75 * 99 / 10_099, 1e-12);
});

Deno.test("reputation - passes bring suspicion down and old failures fade", () => {
  const afterPasses = computeReputation([], [fail(), ...Array.from({ length: 7 }, () => pass())], at);
  assertAlmostEquals(afterPasses.suspicion, (100 * 0.505 ** 7 / 99) / (1 + 100 * 0.505 ** 7 / 99), 1e-12);
  assert.ok(afterPasses.suspicion < 0.01);
  const old = computeReputation([], [fail(T - H)], at);
  assertAlmostEquals(old.suspicion, (10 / 99) / (1 + 10 / 99), 1e-12);
});

Deno.test("reputation - cancellations by the consumer or the platform are ignored, the node's count", () => {
  const ignored = computeReputation(
    [
      receipt({ outcome: "cancelled", cancelledBy: "consumer" }),
      receipt({ outcome: "failure", cancelledBy: "platform" }),
    ],
    [],
    at,
  );
  assertEquals(ignored.samples, 0);
  assertAlmostEquals(ignored.score, 0.7425, 1e-15);
  const own = computeReputation([receipt({ outcome: "cancelled", cancelledBy: "node" })], [], at);
  assertAlmostEquals(own.components.nodeCancellations, 1, 1e-15);
  assertAlmostEquals(own.reliability, 0.6, 1e-15);
});

Deno.test("reputation - an unsigned, disagreeing or mismatched success counts as bad", () => {
  for (
    const over of [{ signed: false }, { meteringDisagrees: true }, { artifactMismatch: true }, {
      outcome: "timeout" as const,
    }]
  ) {
    const r = computeReputation([receipt(over)], [], at);
    assertEquals([r.components.good, r.components.bad], [0, 1], JSON.stringify(over));
    assertAlmostEquals(r.reliability, 0.6, 1e-15);
  }
  const r = computeReputation([receipt({ signed: false, meteringDisagrees: true })], [], at);
  assertEquals([r.components.unsigned, r.components.meteringDisagreements, r.components.successes], [
    1,
    1,
    1,
  ]);
});

Deno.test("reputation - speed is the weighted mean over good receipts", () => {
  const r = computeReputation(
    [
      receipt(),
      receipt({ createdAt: T - H, ttftMs: 400, durationMs: 2400, completionTokens: 200 }),
      receipt({ ttftMs: null, completionTokens: 0 }), // embeddings: no speed
      receipt({ outcome: "failure", ttftMs: 9000 }), // bad: not counted in speed
    ],
    [],
    at,
  );
  assertAlmostEquals(r.components.ttftMs!, (100 + 0.5 * 400) / 1.5, 1e-12);
  assertAlmostEquals(r.components.tokensPerSecond!, (50 + 0.5 * 100) / 1.5, 1e-12);
});

Deno.test("reputation - any number of failures stays finite", () => {
  const r = computeReputation([], Array.from({ length: 10_000 }, () => fail()), at);
  assertEquals(r.suspicion, 1);
  assert.ok(Number.isFinite(r.score) && r.score >= 0 && r.score < 1e-200);
  const clean = computeReputation([], Array.from({ length: 10_000 }, () => pass()), at);
  assert.ok(clean.suspicion > 0 && clean.suspicion < 1e-200);
});
