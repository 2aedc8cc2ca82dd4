// The settlement journal: what lets an answer go out before its settlement reaches the database
// without a crash ever leaving it unbilled.
//
// Every finished job (its row and its settlement) is appended to a local file, synchronously,
// before the answer or the stream's `[DONE]` is handed over; the database write follows in the
// recorder's next group commit. A `kill -9` loses nothing that was appended (the bytes are in the
// kernel's page cache; only a power cut could lose them, see docs/architecture.md), and the next
// start settles whatever the database does not have yet, before anything else touches the ledger
// (settling is idempotent: jobs already settled are skipped).
//
// Layout: `<dir>/<instance>-<seq>.jsonl`, one JSON header line ({journal, ledger, instance,
// createdAt}) then one line per job. A segment holds at most `segmentEntries` jobs; once full
// and once all its jobs are committed it is deleted. A live instance holds an exclusive lock on
// each of its open segments, so a replay (by a restart, or another instance on the same data
// directory) only takes the segments of processes that are gone. A segment is created under a
// `.tmp` name and renamed once locked and stamped, so a replay never sees one half made. Each
// segment names the ledger it was written for (migration 0007) and is only replayed into it.
import { type JobRow, type JobStatus, settleJobs, type Settlement, type Sql } from "../../db/mod.ts";
import type { Logger } from "../../shared/mod.ts";

const SUFFIX = ".jsonl";
const TMP_SUFFIX = ".jsonl.tmp";
const BAD_SUFFIX = ".jsonl.bad";
const enc = new TextEncoder();

/** One finished job as journaled. */
export interface JournalEntry {
  row: JobRow;
  settlement: Settlement | null;
}

interface Header {
  journal: 1;
  ledger: string;
  instance: string;
  createdAt: string;
}

/** A journal file being written. */
export interface JournalSegment {
  readonly path: string;
}

interface OpenSegment extends JournalSegment {
  /** Null once closed (the file stays on disk while it has uncommitted jobs). */
  file: Deno.FsFile | null;
  entries: number;
  /** Entries not yet committed to the database. */
  pending: number;
  full: boolean;
}

/** Options for {@link SettlementJournal.open}. */
export interface SettlementJournalOptions {
  /** A segment holds at most this many jobs before the next one is started. */
  segmentEntries?: number;
}

function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
}

const big = (v: bigint | null) => (v === null ? null : v.toString());

/** One journal line (no newline): bigints as decimal strings, times as epoch milliseconds. */
export function encodeEntry({ row, settlement: s }: JournalEntry): string {
  return JSON.stringify({
    row: {
      ...row,
      apiKeyId: big(row.apiKeyId),
      createdAt: row.createdAt.getTime(),
      finishedAt: row.finishedAt.getTime(),
    },
    settlement: s && {
      ...s,
      promptPer1k: big(s.promptPer1k),
      completionPer1k: big(s.completionPer1k),
      cost: big(s.cost),
      lease: s.lease ? { id: s.lease.id, apiKeyId: big(s.lease.apiKeyId), hold: big(s.lease.hold) } : null,
    },
  });
}

function field<T>(o: Record<string, unknown>, k: string, type: string, nullable = false): T {
  const v = o[k];
  if ((nullable && v === null) || typeof v === type) return v as T;
  throw new Error(`journal entry: ${k} is not a ${type}${nullable ? " or null" : ""}`);
}

/** A whole number ≥ 0 that fits the database's `integer` (and, for times, a valid Date). */
function intField(o: Record<string, unknown>, k: string, max = 2 ** 31 - 1): number {
  const v = field<number>(o, k, "number");
  if (!Number.isSafeInteger(v) || v < 0 || v > max) throw new Error(`journal entry: ${k} is out of range`);
  return v;
}

const MAX_TIME_MS = 8.64e15;
const JOB_STATUSES: readonly JobStatus[] = ["completed", "failed", "cancelled", "timeout", "rejected"];

function bigField(o: Record<string, unknown>, k: string): bigint {
  const v = field<string>(o, k, "string");
  if (!/^\d{1,19}$/.test(v) || BigInt(v) > 2n ** 63n - 1n) {
    throw new Error(`journal entry: ${k} is not an integer in range`);
  }
  return BigInt(v);
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error(`journal entry: no ${what}`);
  return v as Record<string, unknown>;
}

/** Parses a journal line; throws on anything that is not a whole, well-formed entry. */
export function decodeEntry(line: string): JournalEntry {
  const o = obj(JSON.parse(line), "entry");
  const r = obj(o.row, "row");
  const num = (k: string) => intField(r, k);
  const numOrNull = (k: string) => (r[k] === null ? null : intField(r, k));
  const time = (k: string) => new Date(intField(r, k, MAX_TIME_MS));
  const kind = field<string>(r, "kind", "string");
  const status = field<string>(r, "status", "string");
  if (kind !== "chat" && kind !== "embeddings") throw new Error("journal entry: unknown kind");
  if (!JOB_STATUSES.includes(status as JobStatus)) throw new Error("journal entry: unknown status");
  const row: JobRow = {
    id: field(r, "id", "string"),
    apiKeyId: r.apiKeyId === null ? null : bigField(r, "apiKeyId"),
    kind,
    model: field(r, "model", "string"),
    nodePubkey: field(r, "nodePubkey", "string", true),
    stream: field(r, "stream", "boolean"),
    status: status as JobStatus,
    attempts: num("attempts"),
    errorCode: field(r, "errorCode", "string", true),
    enginePromptTokens: numOrNull("enginePromptTokens"),
    engineCompletionTokens: numOrNull("engineCompletionTokens"),
    countedPromptTokens: numOrNull("countedPromptTokens"),
    countedCompletionTokens: numOrNull("countedCompletionTokens"),
    promptTokens: num("promptTokens"),
    completionTokens: num("completionTokens"),
    ttftMs: numOrNull("ttftMs"),
    latencyMs: num("latencyMs"),
    createdAt: time("createdAt"),
    finishedAt: time("finishedAt"),
  };
  if (o.settlement === null) return { row, settlement: null };
  const s = obj(o.settlement, "settlement");
  const lease = s.lease === null || s.lease === undefined ? null : obj(s.lease, "lease");
  const settlement: Settlement = {
    jobId: field(s, "jobId", "string"),
    nodePubkey: field(s, "nodePubkey", "string", true),
    promptTokens: intField(s, "promptTokens"),
    completionTokens: intField(s, "completionTokens"),
    promptPer1k: bigField(s, "promptPer1k"),
    completionPer1k: bigField(s, "completionPer1k"),
    feeBps: intField(s, "feeBps", 10_000),
    cost: bigField(s, "cost"),
    lease: lease && {
      id: field(lease, "id", "string"),
      apiKeyId: bigField(lease, "apiKeyId"),
      hold: bigField(lease, "hold"),
    },
  };
  if (settlement.jobId !== row.id) throw new Error("journal entry: settlement of another job");
  return { row, settlement };
}

/** This instance's journal: appends finished jobs, drops segments once the database has them. */
export class SettlementJournal {
  #dir: string;
  #header: Header;
  #log: Logger;
  #segmentEntries: number;
  #current: OpenSegment | null = null;
  /** Every segment not yet removed: the current one and full ones with uncommitted jobs. */
  #open = new Set<OpenSegment>();
  #seq = 0;
  #closed = false;

  private constructor(dir: string, header: Header, log: Logger, opts: SettlementJournalOptions) {
    this.#dir = dir;
    this.#header = header;
    this.#log = log;
    this.#segmentEntries = opts.segmentEntries ?? 10_000;
  }

  /** Opens (creating the directory) a journal for `instance`, stamped with the ledger's id. */
  static async open(
    dir: string,
    ledger: string,
    instance: string,
    log: Logger,
    opts: SettlementJournalOptions = {},
  ): Promise<SettlementJournal> {
    await Deno.mkdir(dir, { recursive: true });
    const header: Header = { journal: 1, ledger, instance, createdAt: new Date().toISOString() };
    return new SettlementJournal(dir, header, log, opts);
  }

  /**
   * Appends a finished job (synchronously: it is in the file when this returns). Returns the
   * segment to pass to {@link committed} once the database has the job, or null when it could
   * not be written (logged; the caller then waits for the database instead).
   */
  append(entry: JournalEntry): JournalSegment | null {
    if (this.#closed) return null;
    try {
      let seg = this.#current;
      if (!seg || seg.entries >= this.#segmentEntries) seg = this.#rotate();
      writeAllSync(seg.file!, enc.encode(encodeEntry(entry) + "\n"));
      seg.entries++;
      seg.pending++;
      return seg;
    } catch (err) {
      this.#log.error("settlement journal not written; answers wait for the database", { err });
      return null;
    }
  }

  /** One job of `segment` is committed to the database. */
  committed(segment: JournalSegment): void {
    const seg = segment as OpenSegment;
    seg.pending--;
    if (seg.full && seg.pending === 0) this.#drop(seg);
  }

  /** Jobs appended and not yet committed to the database. */
  get pendingJobs(): number {
    let n = 0;
    for (const seg of this.#open) n += seg.pending;
    return n;
  }

  /** The segment files this instance has open. */
  get segments(): string[] {
    return [...this.#open].filter((s) => s.file).map((s) => s.path);
  }

  #rotate(): OpenSegment {
    const name = `${this.#header.instance}-${String(this.#seq++).padStart(6, "0")}`;
    const tmp = `${this.#dir}/${name}${TMP_SUFFIX}`;
    const path = `${this.#dir}/${name}${SUFFIX}`;
    const file = Deno.openSync(tmp, { create: true, write: true, truncate: true });
    try {
      file.lockSync(true);
      writeAllSync(file, enc.encode(JSON.stringify(this.#header) + "\n"));
      Deno.renameSync(tmp, path);
    } catch (err) {
      file.close();
      throw err;
    }
    const seg: OpenSegment = { path, file, entries: 0, pending: 0, full: false };
    this.#open.add(seg);
    const old = this.#current;
    this.#current = seg;
    if (old) {
      old.full = true;
      if (old.pending === 0) this.#drop(old);
    }
    return seg;
  }

  #drop(seg: OpenSegment): void {
    try {
      Deno.removeSync(seg.path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        this.#log.error("settlement journal segment not removed", { path: seg.path, err });
      }
    }
    seg.file?.close();
    seg.file = null;
    this.#open.delete(seg);
  }

  /**
   * Stops appending. Segments whose jobs are all committed are removed; those that still have
   * uncommitted jobs (the database is down) are closed and left for the next start to replay
   * (or removed here if their jobs commit after all).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#current = null;
    for (const seg of this.#open) {
      seg.full = true;
      if (seg.pending === 0) this.#drop(seg);
      else {
        this.#log.warn("settlement journal kept for the next start", { path: seg.path, jobs: seg.pending });
        seg.file?.close();
        seg.file = null;
      }
    }
  }
}

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
      let header: Header | null = null;
      try {
        const h = JSON.parse(lines[0]);
        if (h?.journal === 1 && typeof h.ledger === "string") header = h;
      } catch { /* not a journal */ }
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
      const settle = async (batch: JournalEntry[]) =>
        (await settleJobs(
          sql,
          batch.flatMap((e) => (e.settlement ? [e.settlement] : [])),
          batch.map((e) => e.row),
        )).length;
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
