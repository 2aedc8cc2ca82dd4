// The job recorder with a settlement journal: an answer waits for the journal append (durable),
// not for the database (committed); a write the database refuses is retried, and the journal
// keeps the job until the commit.
import assert from "node:assert/strict";
import { findJob, findJobCharge, ledgerIdentity, reconcile, type Sql } from "../../db/mod.ts";
import { testOnEachDatabase } from "../../testing/databases.ts";
import { testJobRow } from "../../testing/job_row.ts";
import { testSettlement } from "../../testing/settlement.ts";
import { createTestKey } from "../../testing/funding.ts";
import { createLogger, sleep } from "../../shared/mod.ts";
import { within } from "../../testing/mod.ts";
import { JobRecorder } from "./job_recorder.ts";
import { decodeEntry } from "./journal_codec.ts";
import { type JournalSegment, SettlementJournal } from "./settlement_journal.ts";
import { reserveJob } from "../../testing/reserve_job.ts";

const NODE = "cd".repeat(32);
const log = createLogger({ level: "silent" });

/** How long a commit that is not held up may take before the test gives up on it. */
const COMMIT_MS = 5_000;

/** Whether `p` has settled, checked without waiting on it. */
function tracked(p: Promise<void>): () => boolean {
  let done = false;
  p.then(() => (done = true));
  return () => done;
}

/** A held job: reserved now, its settlement (700 of its 1,000 charged) for the recorder. */
async function heldJob(sql: Sql, jobId: string, apiKeyId: bigint) {
  assert.deepEqual(await reserveJob(sql, { jobId, apiKeyId, amount: 1_000n }), { ok: true });
  const settlement = testSettlement(jobId, 700n, { node: NODE });
  return {
    row: testJobRow(jobId, { apiKeyId, nodePubkey: NODE, promptTokens: 700, completionTokens: 0 }),
    settlement,
  };
}

/**
 * Holds the `jobs` table locked in an open transaction, so no job can be written until
 * `release()`: on PostgreSQL the write waits for the lock, on PGlite (one connection) behind the
 * transaction.
 */
async function lockJobs(sql: Sql): Promise<{ release(): Promise<void> }> {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => (locked = r));
  const held = sql.begin(async (tx) => {
    await tx`lock table jobs in exclusive mode`;
    locked();
    await gate;
  });
  await within(Promise.race([isLocked, held]), COMMIT_MS, "the jobs table locked");
  return {
    async release() {
      open();
      await held;
    },
  };
}

function journaledIds(segment: JournalSegment): string[] {
  const lines = Deno.readTextFileSync(segment.path).split("\n").slice(1, -1);
  return lines.map((l) => decodeEntry(l).row.id);
}

testOnEachDatabase(
  "job recorder - with a journal an answer waits for the append, not for a commit that is held up",
  async (db) => {
    const sql = db.sql;
    const dir = await Deno.makeTempDir({ prefix: "job_recorder_test_" });
    const journal = await SettlementJournal.open(dir, await ledgerIdentity(sql), "inst", log, {
      segmentEntries: 1,
    });
    const journaled = new JobRecorder(sql, log, { journal, retryMs: 20 });
    const plain = new JobRecorder(sql, log, { retryMs: 20 });
    const key = (await createTestKey(sql, 10_000n)).id;
    const a = await heldJob(sql, "job_a", key);
    const b = await heldJob(sql, "job_b", key);
    const c = await heldJob(sql, "job_c", key);
    const lock = await lockJobs(sql);
    try {
      const ra = journaled.record(a.row, a.settlement);
      const rb = journaled.record(b.row, b.settlement);
      const rc = plain.record(c.row, c.settlement);
      const committed = [ra, rb, rc].map((r) => tracked(r.committed));
      const cDurable = tracked(rc.durable);

      await within(Promise.all([ra.durable, rb.durable]), 1_000, "durable with a journal");
      const segments = listSegments(dir);
      assert.equal(segments.length, 2, "one job per segment");
      assert.deepEqual(segments.map((path) => journaledIds({ path })), [["job_a"], ["job_b"]]);

      // Without a journal, durable is the commit itself.
      assert.equal(rc.durable, rc.committed);
      await sleep(200);
      assert.deepEqual(committed.map((f) => f()), [false, false, false], "the database write is held up");
      assert.equal(cDurable(), false);

      await lock.release();
      await within(Promise.all([ra.committed, rb.committed, rc.durable]), COMMIT_MS, "the commits");
      // job_a's segment is full and committed: gone. job_b's is still the one appended to.
      assert.deepEqual(listSegments(dir), [segments[1]]);
      journal.close();
      assert.deepEqual(listSegments(dir), [], "everything committed: the last segment goes on close");

      for (const id of ["job_a", "job_b", "job_c"]) {
        assert.equal((await findJob(sql, id))?.id, id);
        const charge = await findJobCharge(sql, id);
        assert.deepEqual([charge?.settled, charge?.charged, charge?.platformFee], [true, 700n, 70n], id);
      }
      assert.deepEqual(await reconcile(sql), []);
    } finally {
      await lock.release();
      await journaled.close();
      await plain.close();
      journal.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testOnEachDatabase(
  "job recorder - a write the database refuses is retried; the journal keeps the job until it commits",
  async (db) => {
    const sql = db.sql;
    const dir = await Deno.makeTempDir({ prefix: "job_recorder_test_" });
    const journal = await SettlementJournal.open(dir, await ledgerIdentity(sql), "inst", log, {
      segmentEntries: 1,
    });
    const errors: string[] = [];
    const capture = createLogger({ level: "error", write: (line) => errors.push(JSON.parse(line).msg) });
    const recorder = new JobRecorder(sql, capture, { journal, retryMs: 10 });
    const key = (await createTestKey(sql, 10_000n)).id;
    const a = await heldJob(sql, "job_a", key);
    const b = await heldJob(sql, "job_b", key);
    // The database refuses every new job row until the constraint is dropped.
    await sql`alter table jobs add constraint recorder_test_refuses check (false) not valid`;
    try {
      const ra = recorder.record(a.row, a.settlement);
      const rb = recorder.record(b.row, b.settlement);
      const committed = tracked(Promise.all([ra.committed, rb.committed]).then(() => {}));
      await within(Promise.all([ra.durable, rb.durable]), 1_000, "durable");

      const deadline = Date.now() + COMMIT_MS;
      while (errors.length < 3 && Date.now() < deadline) await sleep(10);
      assert.ok(errors.length >= 3, `retried (${errors.length} failed writes)`);
      assert.ok(errors.every((m) => m === "job rows not written; will retry"), errors.join("; "));
      assert.equal(committed(), false);
      assert.equal((await findJobCharge(sql, "job_a"))?.settled, false);
      const segments = listSegments(dir);
      assert.deepEqual(segments.map((path) => journaledIds({ path })), [["job_a"], ["job_b"]]);

      await sql`alter table jobs drop constraint recorder_test_refuses`;
      await within(Promise.all([ra.committed, rb.committed]), COMMIT_MS, "the retried commit");
      assert.deepEqual(listSegments(dir), [segments[1]], "the full, committed segment is gone");
      for (const id of ["job_a", "job_b"]) {
        assert.equal((await findJob(sql, id))?.id, id);
        assert.deepEqual((await findJobCharge(sql, id))?.charged, 700n);
      }
      const failures = errors.length;
      await sleep(50);
      assert.equal(errors.length, failures, "no retry after the commit");
      assert.deepEqual(await reconcile(sql), []);
    } finally {
      await sql`alter table jobs drop constraint if exists recorder_test_refuses`;
      await recorder.close();
      journal.close();
    }
    assert.deepEqual(listSegments(dir), []);
    await Deno.remove(dir, { recursive: true });
  },
);

function listSegments(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => `${dir}/${e.name}`).sort();
}

testOnEachDatabase(
  "job recorder - close makes one last attempt and stops; the journal keeps what failed",
  async (db) => {
    const sql = db.sql;
    const dir = await Deno.makeTempDir({ prefix: "job_recorder_test_" });
    const journal = await SettlementJournal.open(dir, await ledgerIdentity(sql), "inst", log);
    const errors: string[] = [];
    const capture = createLogger({ level: "error", write: (line) => errors.push(JSON.parse(line).msg) });
    const recorder = new JobRecorder(sql, capture, { journal, retryMs: 20 });
    await sql`alter table jobs add constraint recorder_test_refuses check (false) not valid`;
    try {
      const r = recorder.record(testJobRow("job_x"));
      await within(r.durable, 1_000, "durable");
      await within(recorder.close(), COMMIT_MS, "close");
      const atClose = errors.length;
      assert.ok(atClose >= 1 && atClose <= 3, `a last attempt at close (${errors.join("; ")})`);
      assert.match(errors.at(-1)!, /at shutdown; the settlement journal keeps them/);
      await sleep(150);
      assert.equal(errors.length, atClose, "no retry after close");
    } finally {
      await sql`alter table jobs drop constraint if exists recorder_test_refuses`;
      journal.close();
    }
    await sleep(50);
    assert.equal(await findJob(sql, "job_x"), null, "nothing written after close");
    assert.deepEqual(
      listSegments(dir).map((path) => journaledIds({ path })),
      [["job_x"]],
      "left for the next start",
    );
    await Deno.remove(dir, { recursive: true });
  },
);

testOnEachDatabase(
  "job recorder - with a journal, jobs linger into one batch; flush writes at once",
  async (db) => {
    const sql = db.sql;
    const dir = await Deno.makeTempDir({ prefix: "job_recorder_test_" });
    const journal = await SettlementJournal.open(dir, await ledgerIdentity(sql), "inst", log);
    // A linger far longer than the test: only flush() can write.
    const recorder = new JobRecorder(sql, log, { journal, lingerMs: 60_000 });
    try {
      const key = (await createTestKey(sql, 10_000n)).id;
      const a = await heldJob(sql, "job_a", key);
      const b = await heldJob(sql, "job_b", key);
      const ra = recorder.record(a.row, a.settlement);
      await sleep(20);
      const rb = recorder.record(b.row, b.settlement);
      await within(Promise.all([ra.durable, rb.durable]), 1_000, "durable");
      const committed = tracked(Promise.all([ra.committed, rb.committed]).then(() => {}));
      await sleep(100);
      assert.equal(committed(), false, "still lingering");
      assert.equal(await findJob(sql, "job_a"), null);
      await within(recorder.flush(), COMMIT_MS, "flush");
      assert.equal(committed(), true, "flush resolves once they are committed");
      // One transaction for both: their settle postings share its timestamp.
      const times = await sql<{ t: Date }[]>`
      select distinct created_at as t from ledger_transactions
      where kind = 'settle' and job_id in ('job_a', 'job_b')`;
      assert.equal(times.length, 1, "both settled in one commit");
      assert.deepEqual(await reconcile(sql), []);
    } finally {
      await recorder.close();
      journal.close();
    }
    assert.deepEqual(listSegments(dir), []);
    await Deno.remove(dir, { recursive: true });
  },
);

testOnEachDatabase(
  "job recorder - without a journal, lingering is off: the answer waits for the commit",
  async (db) => {
    const sql = db.sql;
    const recorder = new JobRecorder(sql, log, { lingerMs: 60_000 });
    try {
      const r = recorder.record(testJobRow("job_n"));
      await within(r.durable, COMMIT_MS, "committed without waiting for a linger");
      assert.equal((await findJob(sql, "job_n"))?.id, "job_n");
    } finally {
      await recorder.close();
    }
  },
);
