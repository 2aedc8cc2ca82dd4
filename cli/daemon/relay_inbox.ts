// The consumer's frames of a relayed direct-mode request (docs/protocol.md §14), as the control
// plane forwards them over the job socket (`relay_frame`), handed to admission one at a time.
// Bounded: at most MAX_PENDING frames wait, and a request whose next frame does not come within
// the idle limit ends there (admission then refuses it: no end frame).

/** Most frames waiting to be read; past it the request is cut. */
export const MAX_PENDING = 1024;

/** Longest wait for the next frame. */
export const RELAY_IDLE_MS = 30_000;

/** A queue of one relayed request's frames. */
export class RelayInbox {
  #pending: string[] = [];
  #waiter: ((frame: string | null) => void) | null = null;
  #closed = false;
  #idleMs: number;

  constructor(opts: { idleMs?: number } = {}) {
    this.#idleMs = opts.idleMs ?? RELAY_IDLE_MS;
  }

  /** Adds a frame the control plane forwarded. */
  push(frame: string): void {
    if (this.#closed) return;
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = null;
      w(frame);
    } else if (this.#pending.length < MAX_PENDING) {
      this.#pending.push(frame);
    } else {
      this.close();
    }
  }

  /** No more frames: a waiting or later read gets null. */
  close(): void {
    this.#closed = true;
    this.#pending = [];
    const w = this.#waiter;
    this.#waiter = null;
    w?.(null);
  }

  /** The next frame, or null when the request ended (closed, cut, or idle too long). */
  next(): Promise<string | null> {
    const frame = this.#pending.shift();
    if (frame !== undefined) return Promise.resolve(frame);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.close(), this.#idleMs);
      this.#waiter = (f) => {
        clearTimeout(timer);
        resolve(f);
      };
    });
  }
}
