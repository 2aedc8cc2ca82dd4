// Job state in Deno KV. A job is written `running` with a deadline message on the KV queue in one
// atomic commit; it ends exactly once: either its request finishes it, or the deadline reaps it.
// The queue is durable, so a job left running by a crash is still reaped after a restart.
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

/** The deadline message on the KV queue. */
interface DeadlineMessage {
  type: "job_deadline";
  jobId: string;
}

const FINISHED_TTL_MS = 24 * 60 * 60 * 1000;

/** Called when a job's deadline passes while it is still running. */
export type ReapHandler = (state: JobState) => Promise<void> | void;

/** Job state and deadlines in KV. */
export class JobStore {
  #kv: Deno.Kv;
  #running = new Map<string, Promise<{ state: JobState; versionstamp: string } | null>>();

  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** Records a running job and schedules its deadline. */
  start(state: JobState, deadlineMs: number): Promise<boolean> {
    const msg: DeadlineMessage = { type: "job_deadline", jobId: state.id };
    // One tick later: the job frame goes to the node first, and the write (whose synchronous part
    // costs tens of µs on the event loop) happens off the request's critical path.
    const written = new Promise((resolve) => setTimeout(resolve, 0))
      .then(() =>
        this.#kv.atomic()
          .check({ key: ["jobs", state.id], versionstamp: null })
          .set(["jobs", state.id], state)
          .enqueue(msg, { delay: deadlineMs })
          .commit()
      )
      .then((r) => (r.ok ? { state, versionstamp: r.versionstamp } : null));
    this.#running.set(state.id, written);
    return written.then((w) => w !== null);
  }

  /** Moves a running job to its final state; false if it had already ended (e.g. reaped). */
  async finish(
    id: string,
    update: Pick<JobState, "status" | "nodePubkey">,
    nowMs = Date.now(),
  ): Promise<boolean> {
    const known = this.#running.get(id);
    this.#running.delete(id);
    // The versionstamp from `start` saves a read; without it (another instance), read the entry.
    let current = known ? await known : null;
    if (!current) {
      const entry = await this.#kv.get<JobState>(["jobs", id]);
      if (!entry.value || !entry.versionstamp) return false;
      current = { state: entry.value, versionstamp: entry.versionstamp };
    }
    if (current.state.status !== "running") return false;
    const final: JobState = { ...current.state, ...update, finishedAt: nowMs };
    const r = await this.#kv.atomic()
      .check({ key: ["jobs", id], versionstamp: current.versionstamp })
      .set(["jobs", id], final, { expireIn: FINISHED_TTL_MS })
      .commit();
    return r.ok;
  }

  /** Reads a job's state. */
  async get(id: string): Promise<JobState | null> {
    return (await this.#kv.get<JobState>(["jobs", id])).value;
  }

  /** Handles deadline messages: a job still running is marked `timeout` and handed to `onReap`. */
  async handleMessage(msg: unknown, onReap: ReapHandler, nowMs = Date.now()): Promise<void> {
    if (!isDeadline(msg)) return;
    const entry = await this.#kv.get<JobState>(["jobs", msg.jobId]);
    if (!entry.value || entry.value.status !== "running") return;
    const final: JobState = { ...entry.value, status: "timeout", finishedAt: nowMs };
    const r = await this.#kv.atomic()
      .check(entry)
      .set(["jobs", msg.jobId], final, { expireIn: FINISHED_TTL_MS })
      .commit();
    this.#running.delete(msg.jobId);
    if (r.ok) await onReap(final);
  }
}

function isDeadline(msg: unknown): msg is DeadlineMessage {
  return typeof msg === "object" && msg !== null &&
    (msg as DeadlineMessage).type === "job_deadline" && typeof (msg as DeadlineMessage).jobId === "string";
}
