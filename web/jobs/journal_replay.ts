// Replays the settlement journal at start (web/jobs/settlement_journal.ts): settles what the
// segments of gone instances hold and the database does not, then removes those segments.
import { settleJobsFully, type Sql } from "../../db/mod.ts";
import type { Logger } from "../../shared/mod.ts";
import {
  BAD_SUFFIX,
  decodeEntry,
  decodeHeader,
  type JournalEntry,
  SUFFIX,
  TMP_SUFFIX,
} from "./journal_codec.ts";

/** What a replay found and did. */
export interface ReplayResult {
  /** Segments replayed and removed. */
  files: number;
  /** Jobs read from them. */
  entries: number;
  /** Of those, jobs the database did not have yet, now settled. */
  settled: number;
  /** Segments left in place: another ledger's, or a live instance's. */
  skipped: number;
}

/**
 * Settles every journaled job the database does not have yet, from the segments of instances
 * that are gone (segments another process holds locked are left alone), and removes those
 * segments. Run at start, before anything else records or reaps jobs.
 */
export async function replayJournal(
  dir: string,
  ledger: string,
  sql: Sql,
  log: Logger,
  opts: { batch?: number } = {},
): Promise<ReplayResult> {
  const result: ReplayResult = { files: 0, entries: 0, settled: 0, skipped: 0 };
  const batchSize = opts.batch ?? 500;
  let names: string[];
  try {
    names = [];
    for await (const e of Deno.readDir(dir)) if (e.isFile) names.push(e.name);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return result;
    throw err;
  }
  for (const name of names.sort()) {
    const path = `${dir}/${name}`;
    if (!name.endsWith(SUFFIX) && !name.endsWith(TMP_SUFFIX)) continue;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue; // its owner finished with it meanwhile
      throw err;
    }
    try {
      if (!file.tryLockSync(true)) {
        result.skipped++;
        continue;
      }
      if (name.endsWith(TMP_SUFFIX)) {
        // Its process died while creating it: it never held a job.
        await Deno.remove(path).catch(() => {});
        continue;
      }
      // (The lock is advisory: reading through a second descriptor is fine.)
      const text = await Deno.readTextFile(path);
      const lines = text.split("\n");
      const header = decodeHeader(lines[0]);
      if (!header) {
        log.error("settlement journal segment unreadable; renamed, not replayed", { path });
        await Deno.rename(path, path.slice(0, -SUFFIX.length) + BAD_SUFFIX);
        continue;
      }
      if (header.ledger !== ledger) {
        log.warn("settlement journal of another ledger left in place", { path, ledger: header.ledger });
        result.skipped++;
        continue;
      }
      const entries: JournalEntry[] = [];
      let bad = 0;
      for (let i = 1; i < lines.length; i++) {
        if (lines[i] === "") continue;
        try {
          entries.push(decodeEntry(lines[i]));
        } catch (err) {
          // A last line cut short (no newline after it) is a write the kill interrupted: its
          // answer never went out. Anything else unreadable is damage, kept for inspection.
          const torn = i === lines.length - 1;
          if (!torn) bad++;
          log.warn(torn ? "settlement journal: last entry incomplete, skipped" : "journal entry unreadable", {
            path,
            line: i + 1,
            err: String(err),
          });
        }
      }
      const settle = async (batch: JournalEntry[]) => {
        // A lease released while this instance was down (another instance gave it up) no longer
        // pays: those jobs are charged from their keys' balances instead (db/late_charges.ts).
        const done = await settleJobsFully(
          sql,
          batch.flatMap((e) => (e.settlement ? [e.settlement] : [])),
          batch.map((e) => e.row),
        );
        if (done.late.length > 0) {
          log.warn("journal: jobs of released balance leases charged from their balances", {
            jobs: done.late.length,
          });
        }
        if (done.uncollected.length > 0) {
          log.error("journal: answered jobs not charged: their keys' balances are empty", {
            jobs: done.uncollected,
          });
        }
        return done.settled.length + done.late.length;
      };
      for (let i = 0; i < entries.length; i += batchSize) {
        const batch = entries.slice(i, i + batchSize);
        try {
          result.settled += await settle(batch);
        } catch (batchErr) {
          // One entry the database refuses must not keep the others out: settle them one by one.
          // (If the database itself is unreachable, the start fails here and is retried whole.)
          for (const e of batch) {
            try {
              result.settled += await settle([e]);
            } catch (err) {
              await sql`select 1`.catch(() => {
                throw batchErr;
              });
              bad++;
              log.error("journal entry refused by the database", { path, jobId: e.row.id, err: String(err) });
            }
          }
        }
      }
      result.entries += entries.length;
      result.files++;
      // Every readable entry is in the database now. Keep a damaged segment for inspection.
      if (bad > 0) await Deno.rename(path, path.slice(0, -SUFFIX.length) + BAD_SUFFIX);
      else await Deno.remove(path);
    } finally {
      file.close();
    }
  }
  if (result.files > 0 || result.skipped > 0) log.info("settlement journal replayed", { ...result });
  return result;
}
