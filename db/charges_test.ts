import assert from "node:assert/strict";
import { testOnEachDatabase } from "../testing/databases.ts";
import type { Sql } from "./client.ts";
import { createApiKey } from "./api_keys.ts";
import {
  accountBalance,
  consumerBalance,
  consumerHolds,
  operatorEarnings,
  PLATFORM_FEES,
  postEntry,
  PROCESSOR_CLEARING,
} from "./ledger.ts";
import { findJobCharge, releaseStaleHolds, settleJobs, type Settlement } from "./charges.ts";
import { reserveJob } from "../testing/reserve_job.ts";

const NODE = "cd".repeat(32);

async function fundedKey(sql: Sql, amount: bigint): Promise<bigint> {
  const { row } = await createApiKey(sql);
  await postEntry(sql, {
    idempotencyKey: `deposit:test_${row.id}`,
    kind: "deposit",
    postings: [{ account: PROCESSOR_CLEARING, amount: -amount }, {
      account: consumerBalance(row.id),
      amount,
    }],
  });
  return row.id;
}

function settlement(jobId: string, cost: bigint, nodePubkey: string | null = NODE): Settlement {
  return {
    jobId,
    nodePubkey,
    promptTokens: 10,
    completionTokens: 20,
    promptPer1k: 1_000n,
    completionPer1k: 2_000n,
    feeBps: 1000,
    cost,
  };
}

async function postingsSum(sql: Sql): Promise<bigint> {
  const [{ total }] = await sql<
    { total: bigint | null }[]
  >`select sum(amount)::bigint as total from postings`;
  return total ?? 0n;
}

testOnEachDatabase(
  "charges - a reservation the balance cannot cover is refused and writes nothing",
  async (db) => {
    const key = await fundedKey(db.sql, 100n);
    const r = await reserveJob(db.sql, { jobId: "job_a", apiKeyId: key, amount: 101n });
    assert.deepEqual(r, { ok: false, available: 100n });
    assert.equal(await findJobCharge(db.sql, "job_a"), null);
    assert.equal(await accountBalance(db.sql, consumerBalance(key)), 100n);
    assert.equal(await accountBalance(db.sql, consumerHolds(key)), 0n);
  },
);

testOnEachDatabase(
  "charges - settle charges the cost, splits the fee, refunds the rest, once",
  async (db) => {
    const key = await fundedKey(db.sql, 10_000n);
    assert.deepEqual(await reserveJob(db.sql, { jobId: "job_b", apiKeyId: key, amount: 5_000n }), {
      ok: true,
    });
    assert.equal(await accountBalance(db.sql, consumerBalance(key)), 5_000n);
    assert.equal(await accountBalance(db.sql, consumerHolds(key)), 5_000n);
    const [settled] = await db.sql.begin((tx) => settleJobs(tx, [settlement("job_b", 1_234n)]));
    assert.deepEqual(
      { charged: settled.charged, fee: settled.platformFee, operator: settled.operatorShare },
      { charged: 1_234n, fee: 123n, operator: 1_111n },
    );
    // Settling again (a retried write) changes nothing.
    assert.deepEqual(await db.sql.begin((tx) => settleJobs(tx, [settlement("job_b", 1_234n)])), []);
    assert.equal(await accountBalance(db.sql, consumerBalance(key)), 10_000n - 1_234n);
    assert.equal(await accountBalance(db.sql, consumerHolds(key)), 0n);
    assert.equal(await accountBalance(db.sql, operatorEarnings(NODE)), 1_111n);
    assert.equal(await accountBalance(db.sql, PLATFORM_FEES), 123n);
    assert.equal(await postingsSum(db.sql), 0n);
  },
);

testOnEachDatabase(
  "charges - a cost above the hold is capped at the hold; no node means no charge",
  async (db) => {
    const key = await fundedKey(db.sql, 10_000n);
    await reserveJob(db.sql, { jobId: "job_c", apiKeyId: key, amount: 1_000n });
    await reserveJob(db.sql, { jobId: "job_d", apiKeyId: key, amount: 1_000n });
    const settled = await db.sql.begin((tx) =>
      settleJobs(tx, [settlement("job_c", 5_000n), settlement("job_d", 700n, null)])
    );
    const byId = Object.fromEntries(settled.map((s) => [s.jobId, s]));
    assert.equal(byId.job_c.charged, 1_000n);
    assert.equal(byId.job_d.charged, 0n);
    assert.equal(byId.job_d.nodePubkey, null);
    assert.equal(await accountBalance(db.sql, consumerBalance(key)), 9_000n);
    assert.equal(await postingsSum(db.sql), 0n);
  },
);

testOnEachDatabase("charges - concurrent reservations never overdraw a balance", async (db) => {
  const key = await fundedKey(db.sql, 10_000n);
  const results = await Promise.all(
    Array.from(
      { length: 60 },
      (_, i) => reserveJob(db.sql, { jobId: `job_${i}`, apiKeyId: key, amount: 1_000n }),
    ),
  );
  assert.equal(results.filter((r) => r.ok).length, 10);
  assert.equal(await accountBalance(db.sql, consumerBalance(key)), 0n);
  assert.equal(await accountBalance(db.sql, consumerHolds(key)), 10_000n);
  assert.equal(await postingsSum(db.sql), 0n);
});

testOnEachDatabase("charges - stale holds are released whole", async (db) => {
  const key = await fundedKey(db.sql, 3_000n);
  await reserveJob(db.sql, { jobId: "job_old", apiKeyId: key, amount: 2_000n });
  await db.sql`update job_charges set reserved_at = now() - interval '1 hour' where job_id = 'job_old'`;
  await reserveJob(db.sql, { jobId: "job_new", apiKeyId: key, amount: 500n });
  assert.equal(await releaseStaleHolds(db.sql, 60_000), 1);
  assert.equal(await releaseStaleHolds(db.sql, 60_000), 0);
  assert.equal(await accountBalance(db.sql, consumerBalance(key)), 2_500n);
  assert.equal(await accountBalance(db.sql, consumerHolds(key)), 500n);
  assert.equal((await findJobCharge(db.sql, "job_new"))?.settled, false);
});
