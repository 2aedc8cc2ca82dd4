// Balance leases on a real database: many concurrent reservations cost one top-up, a key can
// never have more set aside than its balance, unused shares come back when settlements commit,
// idle leases and a closing instance return everything, and reconcile stays clean.
import assert from "node:assert/strict";
import { type JobRow, migrate, reconcile, releaseLease, settleJobs, type Settlement } from "../../db/mod.ts";
import { accountBalance, consumerBalance, consumerHolds } from "../../db/ledger.ts";
import { testOnEachDatabase } from "../../testing/databases.ts";
import { testJobRow } from "../../testing/job_row.ts";
import { testSettlement } from "../../testing/settlement.ts";
import { createLogger } from "../../shared/mod.ts";
import { createTestKey } from "../../testing/control_plane.ts";
import { BalanceLeases, type JobLease } from "./leases.ts";

const NODE = "aa".repeat(32);
const quiet = createLogger({ level: "error", write: () => {} });

/** A job's settlement committed with nothing journaled before: charged and committed at once. */
function settle(leases: BalanceLeases, job: JobLease, cost: bigint): void {
  leases.charged(job, cost);
  leases.committed(job);
}

function settlement(job: JobLease, jobId: string, cost: bigint): Settlement {
  return testSettlement(jobId, cost, { lease: job, node: NODE });
}

function jobRow(j: { jobId: string }, apiKeyId: bigint): JobRow {
  return testJobRow(j.jobId, {
    apiKeyId,
    nodePubkey: NODE,
    enginePromptTokens: 100,
    engineCompletionTokens: 0,
    countedPromptTokens: 100,
    countedCompletionTokens: 0,
    promptTokens: 100,
    completionTokens: 0,
  });
}

async function topUps(sql: Parameters<typeof migrate>[0]): Promise<number> {
  const [{ n }] = await sql<{ n: number }[]>`
    select count(*)::int as n from ledger_transactions where idempotency_key like 'lease:%'`;
  return n;
}

testOnEachDatabase(
  "leases - 100 concurrent reservations: a few top-ups, never more than the balance",
  async (db) => {
    await migrate(db.sql);
    const { id } = await createTestKey(db.sql, 10_000n);
    const leases = new BalanceLeases(db.sql, quiet, { instance: "t1", idleMs: 60_000 });
    try {
      const results = await Promise.all(Array.from({ length: 100 }, () => leases.reserve(id, 300n)));
      const granted = results.filter((r) => r.ok);
      assert.equal(granted.length, 33, "exactly what 10,000 covers at 300 each");
      const refused = results.find((r) => !r.ok);
      assert.ok(refused && !refused.ok && refused.available < 300n, "the refusal says what is left");
      assert.ok(await topUps(db.sql) <= 8, `few top-ups (${await topUps(db.sql)})`);
      assert.equal(await accountBalance(db.sql, consumerBalance(id)), 0n);
      assert.equal(await accountBalance(db.sql, consumerHolds(id)), 10_000n);

      // Settle them: each charged 100 of its 300; the rest is free again at once, in memory.
      const jobs = granted.map((r, i) => ({ lease: (r as { lease: JobLease }).lease, jobId: `job_lt_${i}` }));
      await settleJobs(
        db.sql,
        jobs.map((j) => settlement(j.lease, j.jobId, 100n)),
        jobs.map((j) => jobRow(j, id)),
      );
      for (const j of jobs) settle(leases, j.lease, 100n);
      assert.equal(leases.availableOf(id), 10_000n - 3_300n);
      assert.ok((await leases.reserve(id, 6_700n)).ok, "what was not charged can be reserved again");
      assert.equal((await leases.reserve(id, 1n)).ok, false);
      assert.deepEqual(await reconcile(db.sql), []);
    } finally {
      await leases.close();
    }
    assert.equal(await accountBalance(db.sql, consumerHolds(id)), 0n, "closing returns every lease");
    assert.equal(await accountBalance(db.sql, consumerBalance(id)), 10_000n - 3_300n);
    assert.deepEqual(await reconcile(db.sql), []);
  },
);

testOnEachDatabase(
  "leases - an idle lease goes back to the balance; one with a job in flight stays",
  async (db) => {
    await migrate(db.sql);
    const a = await createTestKey(db.sql, 5_000n);
    const b = await createTestKey(db.sql, 5_000n);
    const leases = new BalanceLeases(db.sql, quiet, { instance: "t2", idleMs: 60_000 });
    try {
      const ra = await leases.reserve(a.id, 100n);
      const rb = await leases.reserve(b.id, 100n);
      assert.ok(ra.ok && rb.ok);
      settle(leases, ra.lease, 0n);
      assert.equal(await leases.releaseIdle(Date.now() + 60_000), 1, "only the key with nothing in flight");
      assert.equal(await accountBalance(db.sql, consumerBalance(a.id)), 5_000n);
      assert.equal(await accountBalance(db.sql, consumerHolds(a.id)), 0n);
      assert.ok(await accountBalance(db.sql, consumerHolds(b.id)) >= 100n, "b's job still has its share");
      // A new job of the released key starts a new lease.
      const again = await leases.reserve(a.id, 100n);
      assert.ok(again.ok && again.lease.id !== ra.lease.id);
      assert.deepEqual(await reconcile(db.sql), []);
    } finally {
      await leases.close();
    }
    assert.equal(await accountBalance(db.sql, consumerHolds(b.id)), 0n);
  },
);

testOnEachDatabase("leases - two instances share one balance without overdrawing it", async (db) => {
  await migrate(db.sql);
  const { id } = await createTestKey(db.sql, 3_000n);
  const one = new BalanceLeases(db.sql, quiet, { instance: "i1", idleMs: 60_000 });
  const two = new BalanceLeases(db.sql, quiet, { instance: "i2", idleMs: 60_000 });
  try {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? one : two).reserve(id, 100n)),
    );
    // Never more than the balance: what was not served sits free in one instance's lease (a
    // refusal on the other is possible until that lease goes idle and returns it).
    const served = BigInt(results.filter((r) => r.ok).length);
    assert.equal(served * 100n + one.availableOf(id) + two.availableOf(id), 3_000n);
    assert.equal(await accountBalance(db.sql, consumerBalance(id)), 0n);
    // Nothing ran: every share comes back, the idle leases are returned, the balance is whole.
    results.forEach((r, i) => r.ok && settle(i % 2 ? one : two, r.lease, 0n));
    assert.equal(await one.releaseIdle(Date.now(), 0) + await two.releaseIdle(Date.now(), 0), 2);
    assert.equal(await accountBalance(db.sql, consumerBalance(id)), 3_000n);
    assert.deepEqual(await reconcile(db.sql), []);
  } finally {
    await one.close();
    await two.close();
  }
  assert.equal(await accountBalance(db.sql, consumerHolds(id)), 0n);
});

testOnEachDatabase("leases - a lease the sweep released under a stalled instance is replaced", async (db) => {
  await migrate(db.sql);
  const { id } = await createTestKey(db.sql, 5_000n);
  const leases = new BalanceLeases(db.sql, quiet, { instance: "stalled", idleMs: 60_000, initialJobs: 1 });
  try {
    const first = await leases.reserve(id, 100n);
    assert.ok(first.ok);
    settle(leases, first.lease, 0n);
    await releaseLease(db.sql, first.lease.id); // as the sweep does for a dead instance
    const next = await leases.reserve(id, 1_000n); // more than the old lease has free: a top-up
    assert.ok(next.ok && next.lease.id !== first.lease.id, "a new lease took over");
    assert.deepEqual(await reconcile(db.sql), []);
  } finally {
    await leases.close();
  }
  assert.equal(await accountBalance(db.sql, consumerBalance(id)), 5_000n);
});

testOnEachDatabase(
  "leases - a share is free again once its charge is durable; the lease stays open until the commit",
  async (db) => {
    await migrate(db.sql);
    const { id } = await createTestKey(db.sql, 1_000n);
    const leases = new BalanceLeases(db.sql, quiet, { instance: "t5", idleMs: 60_000, initialJobs: 1 });
    try {
      const first = await leases.reserve(id, 1_000n);
      assert.ok(first.ok);
      assert.equal((await leases.reserve(id, 100n)).ok, false, "the whole balance is set aside");
      // Journaled, not yet committed: 300 is owed, the other 700 can serve the next job now.
      leases.charged(first.lease, 300n);
      assert.equal(leases.availableOf(id), 700n);
      const next = await leases.reserve(id, 700n);
      assert.ok(next.ok && next.lease.id === first.lease.id, "served from the same lease, no top-up");
      leases.charged(next.lease, 0n);
      leases.committed(next.lease);
      assert.equal(await leases.releaseIdle(Date.now() + 60_000), 0, "a charge still to commit keeps it");
      await settleJobs(db.sql, [settlement(first.lease, "job_durable", 300n)], [
        jobRow({ jobId: "job_durable" }, id),
      ]);
      leases.committed(first.lease);
      assert.equal(await leases.releaseIdle(Date.now() + 60_000), 1);
      assert.equal(await accountBalance(db.sql, consumerBalance(id)), 700n);
      assert.deepEqual(await reconcile(db.sql), []);
    } finally {
      await leases.close();
    }
  },
);
