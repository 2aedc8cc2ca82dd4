// The settlement journal: its line format, its segments' life (appended at once, dropped once
// committed), and the replay that settles into the ledger what a killed instance journaled but
// never committed — exactly once, on PGlite and PostgreSQL alike.
import assert from "node:assert/strict";
import {
  accountBalance,
  consumerBalance,
  consumerHolds,
  countJobs,
  findJob,
  findJobCharge,
  ledgerIdentity,
  operatorEarnings,
  PLATFORM_FEES,
  reconcile,
  releaseLeaseIfStale,
  type Settlement,
  type Sql,
  takeLease,
} from "../../db/mod.ts";
import { testOnEachDatabase } from "../../testing/databases.ts";
import { testJobRow } from "../../testing/job_row.ts";
import { testSettlement } from "../../testing/settlement.ts";
import { createTestKey } from "../../testing/funding.ts";
import { createLogger } from "../../shared/mod.ts";
import { decodeEntry, encodeEntry, type JournalEntry } from "./journal_codec.ts";
import { replayJournal } from "./journal_replay.ts";
import { type JournalSegment, SettlementJournal } from "./settlement_journal.ts";
import { reserveJob } from "../../testing/reserve_job.ts";

const NODE = "ab".repeat(32);
const log = createLogger({ level: "silent" });

/** A database the test promises never to reach: any query fails the test. */
const NO_DATABASE = (() => {
  throw new Error("the database was queried");
}) as unknown as Sql;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "settlement_journal_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function listDir(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** A segment's lines: its header, then its entries decoded. */
function readSegment(path: string): { header: Record<string, unknown>; entries: JournalEntry[] } {
  const text = Deno.readTextFileSync(path);
  assert.ok(text.endsWith("\n"), "every line is whole");
  const [first, ...rest] = text.slice(0, -1).split("\n");
  return { header: JSON.parse(first), entries: rest.map(decodeEntry) };
}

/** A job charged at 1 nano-USD per prompt token (`cost` tokens), 10 % fee. */
const settlement = (jobId: string, cost: bigint, lease: Settlement["lease"] = null) =>
  testSettlement(jobId, cost, { lease, node: NODE });

/** The entry the recorder would journal for a settled job of `apiKeyId`. */
function entry(s: Settlement, apiKeyId: bigint): JournalEntry {
  const row = testJobRow(s.jobId, {
    apiKeyId,
    nodePubkey: s.nodePubkey,
    status: s.nodePubkey ? "completed" : "failed",
    promptTokens: s.promptTokens,
    completionTokens: 0,
    createdAt: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)),
  });
  return { row, settlement: s };
}

const rowOnly = (id: string): JournalEntry => ({ row: testJobRow(id), settlement: null });

Deno.test("settlement journal - append is in the file when it returns; a full, committed segment goes", async () => {
  await withDir(async (dir) => {
    const j = await SettlementJournal.open(dir, "ledger_1", "inst", log, { segmentEntries: 2 });
    assert.deepEqual(listDir(dir), [], "no file before the first job");
    const a = rowOnly("job_a"), b = rowOnly("job_b"), c = rowOnly("job_c");

    const s0 = j.append(a)!;
    // Read straight away, no await in between: the append was synchronous.
    const first = readSegment(s0.path);
    assert.deepEqual({ ...first.header, createdAt: typeof first.header.createdAt }, {
      journal: 1,
      ledger: "ledger_1",
      instance: "inst",
      createdAt: "string",
    });
    assert.deepEqual(first.entries, [a]);
    assert.equal(j.append(b), s0, "the segment has room for two");
    assert.deepEqual(readSegment(s0.path).entries, [a, b]);

    const s1 = j.append(c)!;
    assert.notEqual(s1.path, s0.path, "the third job starts the next segment");
    assert.deepEqual(listDir(dir), ["inst-000000.jsonl", "inst-000001.jsonl"]);
    assert.deepEqual(readSegment(s1.path).entries, [c]);
    assert.deepEqual(j.segments, [s0.path, s1.path], "the full one stays open while its jobs are pending");

    j.committed(s0);
    assert.ok(exists(s0.path), "one of its jobs is not committed yet");
    j.committed(s0);
    assert.ok(!exists(s0.path), "full and all committed: removed");
    assert.deepEqual(j.segments, [s1.path]);

    j.committed(s1);
    assert.ok(exists(s1.path), "the current segment stays while jobs may still come");
    j.close();
    assert.deepEqual(listDir(dir), [], "closed with everything committed: nothing left");
    assert.equal(j.append(rowOnly("job_late")), null, "a closed journal takes nothing");
    assert.deepEqual(listDir(dir), []);
  });
});

Deno.test("settlement journal - a segment committed before it is full goes at the next rotation; close keeps pending jobs", async () => {
  await withDir(async (dir) => {
    const j = await SettlementJournal.open(dir, "ledger_1", "inst", log, { segmentEntries: 2 });
    const s0 = j.append(rowOnly("job_a"))!;
    j.append(rowOnly("job_b"));
    j.committed(s0);
    j.committed(s0);
    assert.ok(exists(s0.path), "not full until the next job needs a new segment");
    const s1: JournalSegment = j.append(rowOnly("job_c"))!;
    assert.ok(!exists(s0.path), "rotated away with nothing pending: removed");
    j.close();
    assert.deepEqual(listDir(dir), ["inst-000001.jsonl"], "job_c is not committed: kept for the next start");
    assert.deepEqual(readSegment(s1.path).entries.map((e) => e.row.id), ["job_c"]);
  });
});

testOnEachDatabase(
  "settlement journal - replay settles what a killed instance journaled, exactly once, torn or damaged",
  async (db) => {
    const sql = db.sql;
    await withDir(async (dir) => {
      const ledger = await ledgerIdentity(sql);
      const key = (await createTestKey(sql, 100_000n)).id;
      // Held jobs (a charge row each, reserved before the work) and jobs of a balance lease.
      for (const [jobId, amount] of [["job_h1", 2_000n], ["job_h2", 1_000n], ["job_h3", 500n]] as const) {
        assert.deepEqual(await reserveJob(sql, { jobId, apiKeyId: key, amount }), { ok: true });
      }
      assert.deepEqual(
        await takeLease(sql, {
          leaseId: "lease_r",
          apiKeyId: key,
          instance: "gone_b",
          seq: 1,
          need: 1n,
          want: 4_000n,
        }),
        { ok: true, taken: 4_000n },
      );
      const lease = (hold: bigint) => ({ id: "lease_r", apiKeyId: key, hold });
      const held = [
        entry(settlement("job_h1", 700n), key),
        entry(settlement("job_h2", 5_000n), key), // capped at its hold
        entry(settlement("job_h3", 0n), key), // failed before any work
      ];
      const leased = [
        entry(settlement("job_l1", 300n, lease(1_000n)), key),
        entry(settlement("job_l2", 0n, lease(1_000n)), key),
        rowOnly("job_free"), // no money was held for it: only its row
      ];

      // Two instances journal their jobs and are killed before any commit: nothing reaches the
      // database, and their segments are left behind (closed, so no lock remains).
      for (const [instance, entries] of [["gone_a", held], ["gone_b", leased]] as const) {
        const j = await SettlementJournal.open(dir, ledger, instance, log);
        for (const e of entries) j.append(e);
        j.close();
      }
      assert.deepEqual(listDir(dir), ["gone_a-000000.jsonl", "gone_b-000000.jsonl"]);
      assert.equal(await countJobs(sql), 0);
      assert.equal((await findJobCharge(sql, "job_h1"))?.settled, false);

      assert.deepEqual(await replayJournal(dir, ledger, sql, log), {
        files: 2,
        entries: 6,
        settled: 5,
        skipped: 0,
      });
      assert.deepEqual(listDir(dir), [], "replayed segments are removed");
      for (const e of [...held, ...leased]) assert.deepEqual(await findJob(sql, e.row.id), e.row);

      // Charge = cost capped at the hold; fee = 10 % of it; the operator gets the rest.
      const expected: Record<string, [reserved: bigint, charged: bigint, fee: bigint]> = {
        job_h1: [2_000n, 700n, 70n],
        job_h2: [1_000n, 1_000n, 100n],
        job_h3: [500n, 0n, 0n],
        job_l1: [1_000n, 300n, 30n],
        job_l2: [1_000n, 0n, 0n],
      };
      for (const [jobId, [reserved, charged, platformFee]] of Object.entries(expected)) {
        assert.deepEqual(await findJobCharge(sql, jobId), {
          jobId,
          apiKeyId: key,
          reserved,
          charged,
          operatorShare: charged - platformFee,
          platformFee,
          nodePubkey: charged > 0n ? NODE : null,
          settled: true,
        }, jobId);
      }
      assert.equal(await findJobCharge(sql, "job_free"), null);

      // 100,000 − holds (3,500) − lease (4,000) + refunds (1,300 + 500); the lease keeps 3,700.
      const balances = async () => [
        await accountBalance(sql, consumerBalance(key)),
        await accountBalance(sql, consumerHolds(key)),
        await accountBalance(sql, operatorEarnings(NODE)),
        await accountBalance(sql, PLATFORM_FEES),
      ];
      assert.deepEqual(await balances(), [94_300n, 3_700n, 630n + 900n + 270n, 200n]);
      assert.deepEqual(await reconcile(sql), []);

      // The same jobs journaled again (an instance killed after its commit, before its segment
      // went): the replay reads them all and settles none of them twice.
      const again = await SettlementJournal.open(dir, ledger, "gone_c", log);
      for (const e of [...held, ...leased]) again.append(e);
      again.close();
      assert.deepEqual(await replayJournal(dir, ledger, sql, log), {
        files: 1,
        entries: 6,
        settled: 0,
        skipped: 0,
      });
      assert.deepEqual(listDir(dir), []);
      assert.deepEqual(await balances(), [94_300n, 3_700n, 1_800n, 200n]);
      assert.equal(await countJobs(sql), 6);
      assert.deepEqual(await reconcile(sql), []);

      // Killed mid-append: the last line is cut short, without its newline; its answer never
      // went out, so its hold stays open for the sweep. The complete jobs before it are settled.
      for (const jobId of ["job_t1", "job_t3", "job_d1", "job_d2", "job_d3"]) {
        assert.deepEqual(await reserveJob(sql, { jobId, apiKeyId: key, amount: 1_000n }), { ok: true });
      }
      const write = async (instance: string, entries: JournalEntry[]) => {
        const j = await SettlementJournal.open(dir, ledger, instance, log);
        const seg = entries.map((e) => j.append(e)!)[0];
        j.close();
        return seg.path;
      };
      const torn = await write("torn", [entry(settlement("job_t1", 100n), key), rowOnly("job_t2")]);
      const tornLine = encodeEntry(entry(settlement("job_t3", 100n), key));
      Deno.writeTextFileSync(torn, tornLine.slice(0, Math.floor(tornLine.length / 2)), { append: true });
      // A damaged line in the middle: the rest is settled, and the segment kept aside to be looked at.
      const damaged = await write(
        "damaged",
        ["job_d1", "job_d2", "job_d3"].map((id) => entry(settlement(id, 100n), key)),
      );
      const lines = Deno.readTextFileSync(damaged).split("\n");
      lines[2] = lines[2].slice(0, 20);
      Deno.writeTextFileSync(damaged, lines.join("\n"));

      assert.deepEqual(await replayJournal(dir, ledger, sql, log), {
        files: 2,
        entries: 4,
        settled: 3,
        skipped: 0,
      });
      assert.deepEqual(listDir(dir), ["damaged-000000.jsonl.bad"]);
      assert.equal(Deno.readTextFileSync(`${dir}/damaged-000000.jsonl.bad`), lines.join("\n"));
      for (const id of ["job_t1", "job_d1", "job_d3"]) {
        assert.notEqual(await findJob(sql, id), null, id);
        assert.deepEqual((await findJobCharge(sql, id))?.charged, 100n, id);
      }
      assert.notEqual(await findJob(sql, "job_t2"), null);
      for (const id of ["job_t3", "job_d2"]) {
        assert.equal(await findJob(sql, id), null, id);
        assert.equal((await findJobCharge(sql, id))?.settled, false, id);
      }
      assert.deepEqual(await reconcile(sql), []);
    });
  },
);

Deno.test("settlement journal - replay leaves another ledger's and a live instance's segments, drops a half-made one", async () => {
  await withDir(async (dir) => {
    const other = await SettlementJournal.open(dir, "ledger_other", "other", log);
    other.append(rowOnly("job_other"));
    other.close();
    const live = await SettlementJournal.open(dir, "ledger_1", "live", log);
    const liveSegment = live.append(rowOnly("job_live"))!;
    try {
      Deno.writeTextFileSync(`${dir}/dead-000000.jsonl.tmp`, ""); // killed while creating it
      Deno.writeTextFileSync(`${dir}/junk-000000.jsonl`, "not a journal\n");
      Deno.writeTextFileSync(`${dir}/notes.txt`, "left alone");

      // Nothing here may be settled: the database is never asked.
      assert.deepEqual(await replayJournal(dir, "ledger_1", NO_DATABASE, log), {
        files: 0,
        entries: 0,
        settled: 0,
        skipped: 2,
      });
      assert.deepEqual(listDir(dir), [
        "junk-000000.jsonl.bad",
        "live-000000.jsonl",
        "notes.txt",
        "other-000000.jsonl",
      ]);
      assert.deepEqual(readSegment(liveSegment.path).entries.map((e) => e.row.id), ["job_live"]);
      assert.deepEqual(readSegment(`${dir}/other-000000.jsonl`).entries.map((e) => e.row.id), ["job_other"]);
    } finally {
      live.committed(liveSegment);
      live.close();
    }
    assert.ok(!exists(liveSegment.path));
  });
});

Deno.test("settlement journal - close releases every segment: full ones with pending jobs are replayable at once", async () => {
  await withDir(async (dir) => {
    const j = await SettlementJournal.open(dir, "ledger_1", "inst", log, { segmentEntries: 2 });
    const s0 = j.append(rowOnly("job_a"))!;
    j.append(rowOnly("job_b"));
    const s1 = j.append(rowOnly("job_c"))!; // s0 is full, with two jobs pending
    j.committed(s1);
    j.close();
    assert.deepEqual(listDir(dir), ["inst-000000.jsonl"], "the full segment with pending jobs is kept");
    // Its lock is gone with its descriptor: a replay in this same process takes it.
    const other = await SettlementJournal.open(dir, "ledger_1", "probe", log);
    try {
      const probe = other.append(rowOnly("job_probe"))!;
      other.committed(probe);
    } finally {
      other.close();
    }
    // If its jobs commit after all, the kept segment goes.
    j.committed(s0);
    j.committed(s0);
    assert.deepEqual(listDir(dir), []);
  });
});

testOnEachDatabase(
  "settlement journal - replay settles the readable entries around a damaged line or one the database refuses",
  async (db) => {
    const sql = db.sql;
    await withDir(async (dir) => {
      const ledger = await ledgerIdentity(sql);
      const key = (await createTestKey(sql, 10_000n)).id;
      const j = await SettlementJournal.open(dir, ledger, "gone", log);
      j.append(rowOnly("job_ok1"));
      // A row whose key does not exist: well formed, but the database refuses it (foreign key).
      j.append({ row: { ...testJobRow("job_refused"), apiKeyId: 987_654_321n }, settlement: null });
      j.append({ row: { ...testJobRow("job_ok2"), apiKeyId: key }, settlement: null });
      const path = j.segments[0];
      j.close(); // (nothing committed: the segment stays)
      // A complete line (newline and all) that is not an entry: damage, not a torn write.
      Deno.writeTextFileSync(path, '{"row":{"id":"job_k2"},"settlement":null}\n', { append: true });

      const result = await replayJournal(dir, ledger, sql, log);
      assert.deepEqual(result, { files: 1, entries: 3, settled: 0, skipped: 0 });
      assert.equal((await findJob(sql, "job_ok1"))?.id, "job_ok1");
      assert.equal((await findJob(sql, "job_ok2"))?.id, "job_ok2");
      assert.equal(await findJob(sql, "job_refused"), null);
      assert.deepEqual(listDir(dir), ["gone-000000.jsonl.bad"], "kept for inspection, not replayed again");
    });
  },
);

testOnEachDatabase(
  "settlement journal - a killed instance's lease released before its replay: its jobs are charged from the balance",
  async (db) => {
    const sql = db.sql;
    await withDir(async (dir) => {
      const ledger = await ledgerIdentity(sql);
      const key = (await createTestKey(sql, 10_000n)).id;
      const lease = {
        leaseId: "lease_dead",
        apiKeyId: key,
        instance: "gone",
        seq: 1,
        need: 1n,
        want: 4_000n,
      };
      assert.deepEqual(await takeLease(sql, lease), { ok: true, taken: 4_000n });
      // The instance answers two jobs, journals them and is killed before it commits them.
      const journal = await SettlementJournal.open(dir, ledger, "gone", log);
      const hold = { id: "lease_dead", apiKeyId: key, hold: 1_000n };
      for (const [id, cost] of [["job_d1", 300n], ["job_d2", 500n]] as const) {
        journal.append(entry(settlement(id, cost, hold), key));
      }
      journal.close();
      // Another instance gives the dead one's lease up: its money goes back to the balance.
      assert.equal(await releaseLeaseIfStale(sql, "lease_dead", 0), 4_000n);
      assert.equal(await accountBalance(sql, consumerBalance(key)), 10_000n);

      // The dead instance comes back: the answers it gave are charged, from the balance.
      const replayed = await replayJournal(dir, ledger, sql, log);
      assert.deepEqual([replayed.entries, replayed.settled], [2, 2]);
      assert.deepEqual(
        [(await findJobCharge(sql, "job_d1"))?.charged, (await findJobCharge(sql, "job_d2"))?.charged],
        [300n, 500n],
      );
      assert.equal(await accountBalance(sql, consumerBalance(key)), 9_200n);
      assert.equal(await accountBalance(sql, operatorEarnings(NODE)), 720n);
      assert.deepEqual(await reconcile(sql), []);
    });
  },
);
