// Writes job rows and their settlements with group commit: one database transaction per batch
// holds both, so a job is never recorded without being settled (or the other way round), and a
// retried flush is a no-op for what was already written. A batch is written as soon as the one
// before it has committed; whatever finished meanwhile forms the next batch, so under load the
// batches grow and each job waits for about one commit.
//
// With a settlement journal, each job is also appended to it at once, so what waits for the
// answer is that local append (microseconds), not the commit: a crash before the commit is
// settled from the journal at the next start.
import { type JobRow, settleJobsFully, type Settlement, type Sql } from "../../db/mod.ts";
import type { Logger } from "../../shared/mod.ts";
import type { SettlementJournal } from "./settlement_journal.ts";

/** Options for {@link JobRecorder}. */
export interface JobRecorderOptions {
  /** A batch never holds more than this many jobs. */
  maxBatch?: number;
  /** After a failed write, wait this long before trying again. */
  retryMs?: number;
  /** Journal each job before its commit, so `durable` does not wait for the database. */
  journal?: SettlementJournal | null;
  /**
   * With a journal: wait this long (ms) after a job arrives before writing its batch, so a batch
   * carries many jobs and the database sees few commits (each costs every process on the
   * machine a wake-up). {@link JobRecorder.flush} writes at once. Default 0: write at once.
   */
  lingerMs?: number;
  /** Called after each committed batch: its jobs, its oldest job's wait and the statement's time (ms). */
  onBatch?: (jobs: number, oldestWaitMs: number, commitMs: number) => void;
}

/** A job handed to the recorder. Neither promise ever rejects. */
export interface Recorded {
  /**
   * The job will be billed even if this process is killed now: it is in the journal, or (without
   * one, or when the journal could not be written) committed to the database.
   */
  durable: Promise<void>;
  /** The row and settlement are committed to the database. */
  committed: Promise<void>;
}

interface Pending {
  row: JobRow;
  settlement: Settlement | null;
  done: () => void;
  /** When it was handed over (`performance.now()`). */
  at: number;
}

/** Buffers finished jobs and writes them to the database in group-committed batches. */
export class JobRecorder {
  #sql: Sql;
  #log: Logger;
  #buffer: Pending[] = [];
  #writing: Promise<void> | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #maxBatch: number;
  #retryMs: number;
  #journal: SettlementJournal | null;
  #lingerMs: number;
  #lingerTimer: ReturnType<typeof setTimeout> | null = null;
  #onBatch: JobRecorderOptions["onBatch"] | null;
  #flushing = 0;
  #closed = false;
  /** Set when a write failed after close: nothing more is attempted. */
  #gaveUp = false;

  constructor(sql: Sql, log: Logger, opts: JobRecorderOptions = {}) {
    this.#sql = sql;
    this.#log = log;
    this.#maxBatch = opts.maxBatch ?? 500;
    this.#retryMs = opts.retryMs ?? 1000;
    this.#journal = opts.journal ?? null;
    this.#lingerMs = this.#journal ? opts.lingerMs ?? 0 : 0;
    this.#onBatch = opts.onBatch ?? null;
  }

  /** Jobs handed over and not yet committed. */
  get queued(): number {
    return this.#buffer.length;
  }

  /**
   * Queues a finished job (and its settlement, when money was held for it). A failed database
   * write is retried until it succeeds.
   */
  record(row: JobRow, settlement: Settlement | null = null): Recorded {
    const journal = this.#journal;
    const segment = journal?.append({ row, settlement }) ?? null;
    const committed = new Promise<void>((resolve) => {
      const done = segment
        ? () => {
          journal!.committed(segment);
          resolve();
        }
        : resolve;
      this.#buffer.push({ row, settlement, done, at: performance.now() });
      this.#kick();
    });
    return { durable: segment ? Promise.resolve() : committed, committed };
  }

  #kick(): void {
    if (this.#writing || this.#retryTimer || this.#gaveUp || this.#buffer.length === 0) return;
    if (this.#lingerMs > 0 && this.#flushing === 0 && this.#buffer.length < this.#maxBatch) {
      this.#lingerTimer ??= setTimeout(() => {
        this.#lingerTimer = null;
        this.#write();
      }, this.#lingerMs);
      return;
    }
    this.#write();
  }

  #write(): void {
    if (this.#lingerTimer) {
      clearTimeout(this.#lingerTimer);
      this.#lingerTimer = null;
    }
    if (this.#writing || this.#retryTimer || this.#gaveUp || this.#buffer.length === 0) return;
    this.#writing = this.#writeBatch().finally(() => {
      this.#writing = null;
      this.#kick();
    });
  }

  async #writeBatch(): Promise<void> {
    // Let the jobs that finish in this same tick join the batch.
    await Promise.resolve();
    const batch = this.#buffer.splice(0, this.#maxBatch);
    const sentAt = performance.now();
    try {
      const settlements = batch.flatMap((p) => (p.settlement ? [p.settlement] : []));
      // One statement: the rows and their settlements commit together, in one round trip. A job
      // whose lease the sweep released meanwhile (this instance stalled) is charged from the balance.
      const done = await settleJobsFully(this.#sql, settlements, batch.map((p) => p.row));
      if (done.late.length > 0 || done.uncollected.length > 0) {
        this.#log.warn("jobs of released balance leases settled from their balances", {
          late: done.late.length,
          uncollected: done.uncollected,
        });
      }
    } catch (err) {
      this.#buffer.unshift(...batch);
      if (this.#closed) {
        // Shutting down: no more retries (the database may be closing too).
        this.#log.error(
          this.#journal
            ? "job rows not written at shutdown; the settlement journal keeps them for the next start"
            : "job rows not written at shutdown; they are lost",
          { err, rows: this.#buffer.length },
        );
        this.#gaveUp = true;
        return;
      }
      // Keep them: they are retried rather than lost.
      this.#log.error("job rows not written; will retry", { err, rows: batch.length });
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = null;
        this.#kick();
      }, this.#retryMs);
      return;
    }
    if (this.#onBatch) {
      const now = performance.now();
      this.#onBatch(batch.length, now - batch[0].at, now - sentAt);
    }
    for (const p of batch) p.done();
  }

  /**
   * Writes what is queued now, without lingering; resolves when it is written (or, after a
   * failure, when it is waiting for its retry).
   */
  async flush(): Promise<void> {
    this.#flushing++;
    try {
      for (let rounds = 0; rounds < 1_000_000; rounds++) {
        if (this.#writing) {
          await this.#writing;
          continue;
        }
        if (this.#buffer.length === 0 || this.#retryTimer || this.#gaveUp) return;
        this.#write();
      }
    } finally {
      this.#flushing--;
    }
  }

  /** Writes what is queued (one attempt) and stops retrying. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#lingerTimer) {
      clearTimeout(this.#lingerTimer);
      this.#lingerTimer = null;
    }
    if (this.#retryTimer) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = null;
    }
    await this.flush();
  }
}
