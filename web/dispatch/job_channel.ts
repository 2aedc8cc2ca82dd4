// What a node says about one job, queued in arrival order for the request that waits on it.
import { Deadlines, type Waiting } from "./deadlines.ts";

/** The bounds of every channel's waits, on one timer. */
const deadlines = new Deadlines();

/** One event of a job, from the node or from the socket's fate. */
export type JobEvent =
  | { type: "response"; status: number; body: string }
  | { type: "chunks"; data: string[] }
  | { type: "end" }
  | { type: "fail"; message: string; code: string; started: boolean }
  /** The socket to the node closed or the job was cancelled here. */
  | { type: "lost"; reason: string };

/** Returned by {@link JobChannel.next} when nothing arrived in time. */
export const TIMED_OUT = Symbol("timed out");

/** A single-consumer queue of job events with a bounded wait. */
export class JobChannel implements Waiting {
  #queue: JobEvent[] = [];
  #waiter: ((e: JobEvent | typeof TIMED_OUT) => void) | null = null;
  #closed = false;
  /** When the current wait gives up (set by the shared deadlines). */
  deadlineAt = 0;

  /** Adds an event; events after a terminal one are dropped. */
  push(event: JobEvent): void {
    if (this.#closed) return;
    if (event.type !== "chunks") this.#closed = true;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = null;
      deadlines.cancel(this);
      waiter(event);
    } else this.#queue.push(event);
  }

  /** Ends the current wait with TIMED_OUT (called by the shared deadlines). */
  expire(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.(TIMED_OUT);
  }

  /** The next event if one is already here, else null (without waiting). */
  poll(): JobEvent | null {
    return this.#queue.shift() ?? null;
  }

  /** The next event, or TIMED_OUT after `timeoutMs` (the event is then still delivered later). */
  next(timeoutMs: number): Promise<JobEvent | typeof TIMED_OUT> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => {
      this.#waiter = resolve;
      deadlines.add(this, timeoutMs);
    });
  }
}
