// Job state in Deno KV: every job that has been running for a moment, with a deadline message on
// the KV queue. A job ends exactly once: either its request finishes it, or the deadline reaps it;
// either way its entry leaves KV (a check on its versionstamp decides which came first). The queue
// is durable, so a job left running by a crash is still reaped after a restart.
//
// Writes are group-committed, about one commit per `lingerMs` at most (one SQLite transaction, one
// fsync on a local KV): a job's start goes in the first commit after it has run for half of
// `lingerMs` (so between ½ and 1½ of it after it began), with one deadline message for all the
// starts of that commit; an end goes in the next commit. A job that ends sooner is never written
// at all, and that is most jobs: nothing would read it (the reaper looks only for running jobs;
// every job's record is its row in the database). Figures: docs/architecture.md, "A short job
// never touches KV".
import type { JobStatus } from "../../db/mod.ts";

/** The job state kept in KV (small: never the prompt or the output). */
export interface JobState {
  id: string;
  kind: "chat" | "embeddings";
  model: string;
  stream: boolean;
  apiKeyId: string | null;
  nodePubkey: string | null;
  status: "running" | JobStatus;
  createdAt: number;
  finishedAt: number | null;
}

/** The deadline message on the KV queue: every job of one commit that was still running. */
interface DeadlineMessage {
  type: "job_deadline";
  jobIds?: string[];
  /** One job (the message of versions before group commit, maybe still queued). */
  jobId?: string;
}

/** Deno KV refuses an atomic operation with more than 100 checks; each job write carries one. */
const MAX_BATCH = 100;

/** Called when a job's deadline passes while it is still running. */
export type ReapHandler = (state: JobState) => Promise<void> | void;

/** Options for {@link JobStore}. */
export interface JobStoreOptions {
  /** The least time between two commits (ms), twice how long a job runs before its start is
   * written; 0 writes at the next tick. */
  lingerMs?: number;
}

/** A written job: its state and the versionstamp a later write must still find (null: it ended
 * before its start was written, so it never was). */
interface Stored {
  state: JobState;
  versionstamp: string | null;
}

/** One job's next write, waiting for its batch. */
interface Write {
  state: JobState;
  /** The versionstamp the entry must still have; null: it must not exist yet. */
  expect: string | null;
  /** A start: the job is written running and its deadline (epoch ms) goes on the queue. Null: an
   * end, which deletes the entry. */
  deadlineAt: number | null;
  /** When it was queued (`performance.now()`). */
  queuedAt: number;
  /** Whoever waits for this write: what was stored when it was committed, null when its check
   * failed. */
  settle: ((result: Stored | null) => void)[];
  fail: ((err: unknown) => void)[];
}

/** Job state and deadlines in KV. */
export class JobStore {
  #kv: Deno.Kv;
  #lingerMs: number;
  /** Writes not yet handed to KV, by job id (one per job: a finish drops its start). */
  #queued = new Map<string, Write>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  #committing: Promise<void> | null = null;
  /** Running jobs started here: their committed state, once the start's batch is written. */
  #running = new Map<string, Promise<Stored | null>>();

  constructor(kv: Deno.Kv, opts: JobStoreOptions = {}) {
    this.#kv = kv;
    this.#lingerMs = opts.lingerMs ?? 20;
  }

  /** Records a running job and schedules its deadline; false if the id was already taken. */
  start(state: JobState, deadlineMs: number): Promise<boolean> {
    const written = this.#write(state.id, state, null, Date.now() + deadlineMs);
    this.#running.set(state.id, written);
    return written.then((w) => w !== null);
  }

  /**
   * Ends a running job: its entry leaves KV. False if it had already ended (e.g. reaped). How it
   * ended is the job's row in the database.
   */
  async finish(id: string): Promise<boolean> {
    const queued = this.#queued.get(id);
    const started = this.#running.get(id);
    this.#running.delete(id);
    if (queued && queued.deadlineAt === null) return false; // Already ending.
    if (queued && queued.expect === null) {
      // Its start is not written yet: it never will be, and nothing waits for a deadline.
      this.#queued.delete(id);
      for (const s of queued.settle) s({ state: queued.state, versionstamp: null });
      return true;
    }
    // The versionstamp from `start` saves a read; without it (another instance), read the entry.
    let current = await started ?? null;
    current ??= await this.#started(id);
    if (!current?.versionstamp) return false;
    return await this.#write(id, current.state, current.versionstamp, null) !== null;
  }

  async #started(id: string): Promise<Stored | null> {
    const entry = await this.#kv.get<JobState>(["jobs", id]);
    if (!entry.value || !entry.versionstamp || entry.value.status !== "running") return null;
    return { state: entry.value, versionstamp: entry.versionstamp };
  }

  /** Reads a running job's state (null once it has ended, or if it never reached KV). */
  async get(id: string): Promise<JobState | null> {
    return (await this.#kv.get<JobState>(["jobs", id])).value;
  }

  /** Writes what is queued now, without lingering; resolves once it is committed. */
  async flush(): Promise<void> {
    for (let rounds = 0; rounds < 1_000_000; rounds++) {
      if (this.#committing) await this.#committing;
      else if (this.#queued.size > 0) this.#commitNext(true);
      else return;
    }
  }

  /** Handles deadline messages: a job still running leaves KV and is handed to `onReap` as `timeout`. */
  async handleMessage(msg: unknown, onReap: ReapHandler, nowMs = Date.now()): Promise<void> {
    if (!isDeadline(msg)) return;
    for (const id of msg.jobIds ?? [msg.jobId!]) {
      const entry = await this.#kv.get<JobState>(["jobs", id]);
      if (!entry.value || entry.value.status !== "running") continue;
      const final: JobState = { ...entry.value, status: "timeout", finishedAt: nowMs };
      const r = await this.#kv.atomic().check(entry).delete(["jobs", id]).commit();
      this.#running.delete(id);
      if (r.ok) await onReap(final);
    }
  }

  /** Queues a job's write; resolves with what was stored, or null when its check failed. */
  #write(
    id: string,
    state: JobState,
    expect: string | null,
    deadlineAt: number | null,
  ): Promise<Stored | null> {
    return new Promise((resolve, reject) => {
      const queuedAt = performance.now();
      this.#queued.set(id, { state, expect, deadlineAt, queuedAt, settle: [resolve], fail: [reject] });
      // While a batch is being written, the next one starts when it is done.
      if (!this.#committing) this.#schedule();
    });
  }

  /** A full batch goes now; a partial one after the linger. */
  #schedule(): void {
    if (this.#queued.size >= MAX_BATCH) this.#commitNext(true);
    else if (this.#queued.size > 0) this.#timer ??= setTimeout(() => this.#commitNext(), this.#lingerMs);
  }

  /** Commits the ends queued and the starts of jobs running for half the linger (`all`:
   * everything queued, oldest first), at most {@link MAX_BATCH}. */
  #commitNext(all = false): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#committing || this.#queued.size === 0) return;
    const startedBy = performance.now() - this.#lingerMs / 2;
    const batch: [string, Write][] = [];
    for (const entry of this.#queued) {
      const w = entry[1];
      if (all || w.deadlineAt === null || w.queuedAt <= startedBy) batch.push(entry);
      if (batch.length === MAX_BATCH) break;
    }
    if (batch.length === 0) return this.#schedule(); // Only starts younger than half the linger.
    for (const [id] of batch) this.#queued.delete(id);
    this.#committing = this.#commit(batch).finally(() => {
      this.#committing = null;
      this.#schedule();
    });
  }

  async #commit(batch: [string, Write][]): Promise<void> {
    try {
      const r = await this.#atomic(batch).commit();
      if (r.ok) {
        for (const [, w] of batch) {
          for (const s of w.settle) s({ state: w.state, versionstamp: r.versionstamp });
        }
        return;
      }
      // A check failed (a job reaped or finished elsewhere meanwhile): each job on its own, so
      // that one refusal does not fail the others.
      for (const entry of batch) {
        const one = await this.#atomic([entry]).commit();
        const stored = one.ok ? { state: entry[1].state, versionstamp: one.versionstamp } : null;
        for (const s of entry[1].settle) s(stored);
      }
    } catch (err) {
      for (const [, w] of batch) for (const f of w.fail) f(err);
    }
  }

  #atomic(batch: [string, Write][]): Deno.AtomicOperation {
    const op = this.#kv.atomic();
    const deadlines: string[] = [];
    let deadlineAt = 0;
    for (const [id, w] of batch) {
      op.check({ key: ["jobs", id], versionstamp: w.expect });
      if (w.deadlineAt === null) op.delete(["jobs", id]);
      else {
        op.set(["jobs", id], w.state);
        deadlines.push(id);
        deadlineAt = Math.max(deadlineAt, w.deadlineAt);
      }
    }
    if (deadlines.length > 0) {
      const msg: DeadlineMessage = { type: "job_deadline", jobIds: deadlines };
      op.enqueue(msg, { delay: Math.max(0, deadlineAt - Date.now()) });
    }
    return op;
  }
}

function isDeadline(msg: unknown): msg is DeadlineMessage {
  if (typeof msg !== "object" || msg === null) return false;
  const m = msg as DeadlineMessage;
  const isIds = Array.isArray(m.jobIds) && m.jobIds.every((id) => typeof id === "string");
  return m.type === "job_deadline" && (isIds || typeof m.jobId === "string");
}
