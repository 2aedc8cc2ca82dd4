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
import type { Logger } from "../../shared/mod.ts";
import { encodeEntry, type Header, type JournalEntry, SUFFIX, TMP_SUFFIX } from "./journal_codec.ts";

const enc = new TextEncoder();

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
