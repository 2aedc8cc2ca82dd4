import assert from "node:assert/strict";
import { testOnEachDatabase } from "../testing/databases.ts";
import { createApiKey } from "./api_keys.ts";
import { consumerBalance, postEntry, PROCESSOR_CLEARING } from "./ledger.ts";
import { settleJobs } from "./charges.ts";
import { insertJobs, type JobCursor, type JobRow } from "./jobs.ts";
import { testJobRow } from "../testing/job_row.ts";
import { listUsage, recentJobStats, usageExceeds } from "./usage.ts";
import { reserveJob } from "../testing/reserve_job.ts";

const NODE = "ab".repeat(32);

function job(id: string, apiKeyId: bigint, over: Partial<JobRow> = {}): JobRow {
  return testJobRow(id, { apiKeyId, nodePubkey: NODE, ...over });
}

testOnEachDatabase("usage - a key's requests, newest first, with their cost and filters", async (db) => {
  const sql = db.sql;
  const { row: key } = await createApiKey(sql);
  const { row: other } = await createApiKey(sql);
  await postEntry(sql, {
    idempotencyKey: `deposit:usage_${key.id}`,
    kind: "deposit",
    postings: [{ account: PROCESSOR_CLEARING, amount: -1_000_000n }, {
      account: consumerBalance(key.id),
      amount: 1_000_000n,
    }],
  });
  const t0 = Date.parse("2026-01-02T10:00:00Z");
  assert.deepEqual(await reserveJob(sql, { jobId: "j2", apiKeyId: key.id, amount: 5_000n }), { ok: true });
  await settleJobs(sql, [{
    jobId: "j2",
    nodePubkey: NODE,
    promptTokens: 5,
    completionTokens: 7,
    promptPer1k: 100_000n,
    completionPer1k: 200_000n,
    feeBps: 1000,
    cost: 1_900n,
  }], [job("j2", key.id, { createdAt: new Date(t0 + 60_000) })]);
  await insertJobs(sql, [
    job("j1", key.id, { createdAt: new Date(t0) }),
    job("j3", key.id, { createdAt: new Date(t0 + 120_000), model: "other", status: "failed" }),
    job("x1", other.id, { createdAt: new Date(t0 + 30_000) }),
  ]);

  const all = await listUsage(sql, key.id);
  assert.deepEqual(all.map((r) => r.jobId), ["j3", "j2", "j1"]);
  const j2 = all[1];
  assert.equal(j2.cost, 1_900n);
  assert.equal(j2.model, "tiny");
  assert.equal(j2.promptTokens, 5);
  assert.equal(j2.completionTokens, 7);
  assert.equal(j2.latencyMs, 12);
  assert.equal(j2.nodePubkey, NODE);
  assert.equal(all[2].cost, 0n, "a job without a charge costs nothing");

  assert.deepEqual((await listUsage(sql, key.id, { model: "tiny" })).map((r) => r.jobId), ["j2", "j1"]);
  assert.deepEqual((await listUsage(sql, key.id, { status: "failed" })).map((r) => r.jobId), ["j3"]);
  assert.deepEqual(
    (await listUsage(sql, key.id, { from: new Date(t0 + 1), to: new Date(t0 + 120_000) })).map((r) =>
      r.jobId
    ),
    ["j2"],
  );
  assert.deepEqual((await listUsage(sql, key.id, { limit: 1 })).map((r) => r.jobId), ["j3"]);
});

testOnEachDatabase("usage - recent job stats count jobs finished in the window", async (db) => {
  const sql = db.sql;
  const { row: key } = await createApiKey(sql);
  await insertJobs(sql, [
    job("a", key.id),
    job("b", key.id, { status: "failed" }),
    job("old", key.id, { createdAt: new Date(Date.now() - 3_600_000) }),
  ]);
  assert.deepEqual(await recentJobStats(sql, 600_000), { jobs: 2, completed: 1 });
});

testOnEachDatabase(
  "usage - pages by keyset on (time, id), ties included, and counts past a cap",
  async (db) => {
    const sql = db.sql;
    const { row: key } = await createApiKey(sql);
    const t0 = Date.parse("2026-01-02T10:00:00Z");
    // 25 jobs, three to a millisecond, so pages end inside a tie.
    const rows = Array.from({ length: 25 }, (_, i) =>
      job(`p${String(i).padStart(2, "0")}`, key.id, {
        createdAt: new Date(t0 + Math.floor(i / 3)),
        model: i % 2 ? "odd" : "even",
      }));
    await insertJobs(sql, rows);
    const expected = rows.map((r) => r.id).reverse();

    const seen: string[] = [];
    let before: JobCursor | null = null;
    for (let page = 0; page < 10; page++) {
      const got = await listUsage(sql, key.id, { limit: 4, before });
      seen.push(...got.map((r) => r.jobId));
      if (got.length < 4) break;
      const last = got.at(-1)!;
      before = { createdAt: last.createdAt, id: last.jobId };
    }
    assert.deepEqual(seen, expected, "every job once, newest first");

    const even = await listUsage(sql, key.id, {
      model: "even",
      limit: 3,
      before: { createdAt: new Date(t0 + 6), id: "p19" },
    });
    assert.deepEqual(even.map((r) => r.jobId), ["p18", "p16", "p14"]);

    assert.equal(await usageExceeds(sql, key.id, {}, 24), true);
    assert.equal(await usageExceeds(sql, key.id, {}, 25), false);
    assert.equal(await usageExceeds(sql, key.id, { model: "odd" }, 12), false);
    assert.equal(
      await usageExceeds(sql, key.id, { model: "odd", before: { createdAt: new Date(t0), id: "a" } }, 11),
      true,
    );
  },
);
