// Job state in Deno KV. A job is written `running` with a deadline message on the KV queue; it ends
// exactly once: either its request finishes it, or the deadline reaps it. The queue is durable, so
// a job left running by a crash is still reaped after a restart.
//
// Writes are group-committed: the jobs that start or finish within `lingerMs` of each other go to
// KV in one atomic commit (one SQLite transaction, one fsync on a local KV), with one deadline
// message for all the jobs of the batch still running. A job that finishes before its start was
// committed is written once, already finished, and needs no deadline at all: most jobs.
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

const FINISHED_TTL_MS = 24 * 60 * 60 * 1000;

/** Deno KV refuses an atomic operation with more than 100 checks; each job write carries one. */
const MAX_BATCH = 100;

/** Called when a job's deadline passes while it is still running. */
export type ReapHandler = (state: JobState) => Promise<void> | void;

/** Options for {@link JobStore}. */
export interface JobStoreOptions {
  /** How long a write waits for others to share its commit (ms); 0 commits at the next tick. */
  lingerMs?: number;
}

/** A written job: its state and the versionstamp a later write must still find. */
interface Stored {
  state: JobState;
  versionstamp: string;
}

/** One job's next write, waiting for its batch. */
interface Write {
  state: JobState;
  /** The versionstamp the entry must still have; null: it must not exist yet. */
  expect: string | null;
  /** When set, the job is still running: its deadline (epoch ms) goes on the queue. */
  deadlineAt: number | null;
  /** Whoever waits for this write: true when it was committed, false when its check failed. */
  settle: ((result: Stored | null) => void)[];
  fail: ((err: unknown) => void)[];
}

/** Job state and deadlines in KV. */
export class JobStore {
  #kv: Deno.Kv;
  #lingerMs: number;
  /** Writes not yet handed to KV, by job id (one per job: a finish merges into its start). */
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

  /** Moves a running job to its final state; false if it had already ended (e.g. reaped). */
  async finish(
    id: string,
    update: Pick<JobState, "status" | "nodePubkey">,
    nowMs = Date.now(),
  ): Promise<boolean> {
    const queued = this.#queued.get(id);
    const started = this.#running.get(id);
    this.#running.delete(id);
    if (queued && queued.state.status !== "running") return false; // Already ending.
    if (queued) {
      // Not written yet: the job goes to KV once, already finished, with no deadline.
      queued.state = { ...queued.state, ...update, finishedAt: nowMs };
      queued.deadlineAt = null;
      return await new Promise<Stored | null>((resolve, reject) => {
        queued.settle.push(resolve);
        queued.fail.push(reject);
      }) !== null;
    }
    // The versionstamp from `start` saves a read; without it (another instance), read the entry.
    let current = await started ?? null;
    current ??= await this.#started(id);
    if (!current) return false;
    const final: JobState = { ...current.state, ...update, finishedAt: nowMs };
    return await this.#write(id, final, current.versionstamp, null) !== null;
  }

  async #started(id: string): Promise<Stored | null> {
    const entry = await this.#kv.get<JobState>(["jobs", id]);
    if (!entry.value || !entry.versionstamp || entry.value.status !== "running") return null;
    return { state: entry.value, versionstamp: entry.versionstamp };
  }

  /** Reads a job's state. */
  async get(id: string): Promise<JobState | null> {
    return (await this.#kv.get<JobState>(["jobs", id])).value;
  }

  /** Writes what is queued now, without lingering; resolves once it is committed. */
  async flush(): Promise<void> {
    for (let rounds = 0; rounds < 1_000_000; rounds++) {
      if (this.#committing) await this.#committing;
      else if (this.#queued.size > 0) this.#commitNext();
      else return;
    }
  }

  /** Handles deadline messages: a job still running is marked `timeout` and handed to `onReap`. */
  async handleMessage(msg: unknown, onReap: ReapHandler, nowMs = Date.now()): Promise<void> {
    if (!isDeadline(msg)) return;
    for (const id of msg.jobIds ?? [msg.jobId!]) {
      const entry = await this.#kv.get<JobState>(["jobs", id]);
      if (!entry.value || entry.value.status !== "running") continue;
      const final: JobState = { ...entry.value, status: "timeout", finishedAt: nowMs };
      const r = await this.#kv.atomic()
        .check(entry)
        .set(["jobs", id], final, { expireIn: FINISHED_TTL_MS })
        .commit();
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
      this.#queued.set(id, { state, expect, deadlineAt, settle: [resolve], fail: [reject] });
      // While a batch is being written, the next one starts when it is done.
      if (!this.#committing) this.#schedule();
    });
  }

  /** A full batch goes now; a partial one after the linger. */
  #schedule(): void {
    if (this.#queued.size >= MAX_BATCH) this.#commitNext();
    else if (this.#queued.size > 0) this.#timer ??= setTimeout(() => this.#commitNext(), this.#lingerMs);
  }

  #commitNext(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#committing || this.#queued.size === 0) return;
    const batch: [string, Write][] = [];
    for (const entry of this.#queued) {
      batch.push(entry);
      if (batch.length === MAX_BATCH) break;
    }
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
      if (w.deadlineAt === null) op.set(["jobs", id], w.state, { expireIn: FINISHED_TTL_MS });
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
