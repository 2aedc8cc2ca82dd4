import { seededRandom } from "../testing/seeded_random.ts";
import assert from "node:assert/strict";
import { testOnEachDatabase } from "../testing/databases.ts";
import {
  ensureVerificationsTable,
  insertReceiptRows,
  insertVerificationRows,
} from "../testing/reputation_rows.ts";
import {
  computeReputation,
  type Reputation,
  type ReputationReceipt,
  type ReputationVerification,
} from "../shared/mod.ts";
import { allReputations, nodeReputation } from "./reputation.ts";

const T = 1_800_000_000;
const H = 604_800;

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)];
}

function randomReceipt(rand: () => number): ReputationReceipt {
  const outcome = pick(rand, ["success", "success", "success", "failure", "timeout", "cancelled"] as const);
  const ttftMs = rand() < 0.2 ? null : Math.floor(rand() * 3000);
  return {
    // A few after T: not counted.
    createdAt: T - Math.floor(rand() * 40 * 86_400) + (rand() < 0.05 ? 41 * 86_400 : 0),
    outcome,
    cancelledBy: outcome === "cancelled" || rand() < 0.1
      ? pick(rand, ["consumer", "node", "platform", null] as const)
      : null,
    signed: rand() < 0.9,
    meteringDisagrees: rand() < 0.05,
    artifactMismatch: rand() < 0.05,
    ttftMs,
    durationMs: (ttftMs ?? 0) + Math.floor(rand() * 20_000) - 100,
    completionTokens: rand() < 0.1 ? 0 : Math.floor(rand() * 2000),
  };
}

function assertClose(actual: number | null, expected: number | null, what: string): void {
  if (expected === null || actual === null) return assert.equal(actual, expected, what);
  const scale = Math.max(Math.abs(expected), Number.MIN_VALUE);
  assert.ok(Math.abs(actual - expected) / scale <= 1e-9, `${what}: ${actual} ≠ ${expected}`);
}

function assertSame(actual: Reputation, expected: Reputation, node: string): void {
  for (const k of ["score", "suspicion", "reliability", "samples"] as const) {
    assertClose(actual[k], expected[k], `${node} ${k}`);
  }
  for (const [k, v] of Object.entries(expected.components)) {
    assertClose(actual.components[k as keyof typeof actual.components], v, `${node} ${k}`);
  }
}

testOnEachDatabase("reputation - the SQL sums agree with the shared formula on random data", async (db) => {
  await ensureVerificationsTable(db.sql);
  const rand = seededRandom(20_261_206);
  const nodes = Array.from({ length: 6 }, (_, i) => String(i + 1).repeat(64));
  const expected = new Map<
    string,
    { receipts: ReputationReceipt[]; verifications: ReputationVerification[] }
  >();
  for (const [i, node] of nodes.entries()) {
    // One node with receipts only, one with verifications only.
    const receipts = i === 5
      ? []
      : Array.from({ length: 50 + Math.floor(rand() * 150) }, () => randomReceipt(rand));
    const verifications = i === 4 ? [] : Array.from({ length: Math.floor(rand() * 8) }, () => ({
      createdAt: T - Math.floor(rand() * 30 * 86_400) + (rand() < 0.1 ? 31 * 86_400 : 0),
      result: rand() < 0.7 ? "pass" as const : "fail" as const,
    }));
    expected.set(node, { receipts, verifications });
    await insertReceiptRows(db.sql, node, receipts);
    await insertVerificationRows(db.sql, node, verifications);
  }
  const time = { at: T, halfLifeS: H };
  const all = await allReputations(db.sql, time);
  assert.deepEqual([...all.keys()].sort(), nodes);
  for (const [node, items] of expected) {
    const want = computeReputation(items.receipts, items.verifications, time);
    assertSame(all.get(node)!, want, node);
    assertSame(await nodeReputation(db.sql, node, time), want, node);
  }
  // Another half-life: every weight halves, and the two still agree.
  const later = { at: T + H, halfLifeS: H };
  const [node, items] = [...expected][0];
  const want = computeReputation(items.receipts, items.verifications, later);
  assertSame(await nodeReputation(db.sql, node, later), want, node);
  assertClose((await nodeReputation(db.sql, node, later)).samples, want.samples, "samples");
});

testOnEachDatabase("reputation - a node with no rows gets the prior", async (db) => {
  await ensureVerificationsTable(db.sql);
  const r = await nodeReputation(db.sql, "f".repeat(64), { at: T, halfLifeS: H });
  assert.equal(r.reliability, 0.75);
  assert.ok(Math.abs(r.score - 0.7425) < 1e-15);
  assert.equal(r.components.ttftMs, null);
  assert.equal((await allReputations(db.sql, { at: T, halfLifeS: H })).size, 0);
});
