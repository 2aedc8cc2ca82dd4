// Writes job rows and their settlements in batches, off the request path: one database
// transaction per flush holds both, so a job is never recorded without being settled (or the
// other way round), and a retried flush is a no-op for what was already written.
import { insertJobs, type JobRow, settleJobs, type Settlement, type Sql } from "../../db/mod.ts";
import type { Logger } from "../../shared/mod.ts";

/** Options for {@link JobRecorder}. */
export interface JobRecorderOptions {
  /** Longest a row waits before it is written. */
  flushIntervalMs?: number;
  /** A batch this large is written at once. */
  maxBatch?: number;
}

/** Buffers finished jobs and writes them to the database in batches. */
export class JobRecorder {
  #sql: Sql;
  #log: Logger;
  #buffer: JobRow[] = [];
  #settlements: Settlement[] = [];
  #timer: ReturnType<typeof setTimeout> | null = null;
  #flushing: Promise<void> = Promise.resolve();
  #intervalMs: number;
  #maxBatch: number;

  constructor(sql: Sql, log: Logger, opts: JobRecorderOptions = {}) {
    this.#sql = sql;
    this.#log = log;
    this.#intervalMs = opts.flushIntervalMs ?? 50;
    this.#maxBatch = opts.maxBatch ?? 500;
  }

  /** Queues a finished job (and its settlement, when money was held for it) for writing. */
  record(row: JobRow, settlement: Settlement | null = null): void {
    this.#buffer.push(row);
    if (settlement) this.#settlements.push(settlement);
    if (this.#buffer.length >= this.#maxBatch) void this.flush();
    else if (this.#timer === null) this.#timer = setTimeout(() => void this.flush(), this.#intervalMs);
  }

  /** Writes everything queued so far; resolves when it is in the database. */
  flush(): Promise<void> {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const batch = this.#buffer;
    const settlements = this.#settlements;
    this.#buffer = [];
    this.#settlements = [];
    this.#flushing = this.#flushing.then(async () => {
      if (batch.length === 0 && settlements.length === 0) return;
      try {
        await this.#sql.begin(async (tx) => {
          await insertJobs(tx, batch);
          await settleJobs(tx, settlements);
        });
      } catch (err) {
        // Keep them: they are retried with the next flush rather than lost.
        this.#log.error("job rows not written; will retry", { err, rows: batch.length });
        this.#buffer.unshift(...batch);
        this.#settlements.unshift(...settlements);
        if (this.#timer === null) this.#timer = setTimeout(() => void this.flush(), 1000);
      }
    });
    return this.#flushing;
  }

  /** Flushes and stops the timer. */
  async close(): Promise<void> {
    await this.flush();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
