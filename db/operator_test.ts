import assert from "node:assert/strict";
import type { Sql } from "./client.ts";
import { testOnEachDatabase } from "../testing/databases.ts";
import { insertJobs, type JobRow } from "./jobs.ts";
import { testJobRow } from "../testing/job_row.ts";
import { listNodeJobs, nodeJobStats } from "./operator.ts";

const NODE = "cd".repeat(32);
const OTHER = "ef".repeat(32);
const T0 = Date.parse("2026-03-01T00:00:00Z");

function job(id: string, nodePubkey: string, createdAt: Date, over: Partial<JobRow> = {}): JobRow {
  return testJobRow(id, { nodePubkey, createdAt, finishedAt: createdAt, ...over });
}

async function seed(sql: Sql, n: number, nodes: string[]): Promise<void> {
  const BATCH = 5_000;
  for (let start = 0; start < n; start += BATCH) {
    const rows: JobRow[] = [];
    for (let i = start; i < Math.min(n, start + BATCH); i++) {
      // Two jobs per millisecond, so pages split inside one timestamp and the id breaks the tie.
      rows.push(job(`job_${String(i).padStart(6, "0")}`, nodes[i % nodes.length], new Date(T0 + (i >> 1))));
    }
    await insertJobs(sql, rows);
  }
}

testOnEachDatabase(
  "operator - a node's jobs page by keyset: newest first, no gaps, no repeats",
  async (db) => {
    await seed(db.sql, 25, [NODE]);
    await insertJobs(db.sql, [job("other_1", OTHER, new Date(T0 + 100))]);
    const seen: string[] = [];
    let before = null;
    for (let page = 0; page < 10; page++) {
      const got: Awaited<ReturnType<typeof listNodeJobs>> = await listNodeJobs(db.sql, NODE, {
        before,
        limit: 4,
      });
      seen.push(...got.jobs.map((j) => j.jobId));
      before = got.next;
      if (!before) break;
    }
    const expected = Array.from({ length: 25 }, (_, i) => `job_${String(24 - i).padStart(6, "0")}`);
    assert.deepEqual(seen, expected);
    assert.equal((await listNodeJobs(db.sql, OTHER)).jobs.length, 1);
  },
);

testOnEachDatabase("operator - track record: jobs, completed, median latency since a time", async (db) => {
  const at = new Date();
  await insertJobs(db.sql, [
    job("a", NODE, at, { latencyMs: 10, ttftMs: 2 }),
    job("b", NODE, at, { latencyMs: 30, ttftMs: 4 }),
    job("c", NODE, at, { latencyMs: 20, ttftMs: 9 }),
    job("d", NODE, at, { status: "failed", latencyMs: 999 }),
    job("old", NODE, new Date(at.getTime() - 2 * 86_400_000)),
  ]);
  const s = await nodeJobStats(db.sql, NODE, new Date(at.getTime() - 86_400_000));
  assert.deepEqual(s, { jobs: 4, completed: 3, medianLatencyMs: 20, medianTtftMs: 4 });
  assert.deepEqual(await nodeJobStats(db.sql, OTHER, new Date(0)), {
    jobs: 0,
    completed: 0,
    medianLatencyMs: null,
    medianTtftMs: null,
  });
});

testOnEachDatabase("operator - the jobs page reads jobs_node_created with 100,000 jobs", async (db) => {
  await seed(db.sql, 100_000, [NODE, OTHER]);
  await db.sql`analyze jobs`;
  const first = await listNodeJobs(db.sql, NODE, { limit: 50 });
  assert.equal(first.jobs.length, 50);
  const deep = await listNodeJobs(db.sql, NODE, {
    before: { createdAt: new Date(T0 + 10_000), id: "job_020000" },
    limit: 50,
  });
  assert.equal(deep.jobs[0].jobId, "job_019998");
  // The plan of the page query, as the code sends it (first page and a later one).
  for (const cursor of [false, true]) {
    const plan = await db.sql.unsafe(
      `explain select j.id from jobs j left join job_charges c on c.job_id = j.id
       where j.node_pubkey = $1 ${
        cursor ? "and j.created_at <= $2 and (j.created_at < $2 or j.id < $3)" : ""
      } order by j.created_at desc, j.id desc limit 51`,
      cursor ? [NODE, new Date(T0 + 10_000), "job_020000"] : [NODE],
    );
    const text = plan.map((r) => String(Object.values(r)[0])).join("\n");
    assert.match(text, /Index Scan using jobs_node_created/, text);
    assert.doesNotMatch(text, /Seq Scan on jobs/, text);
  }
});
