// Deadlines for many short waits on one timer. Every request waits on its node (for the first
// event, then between stream events) with a bound of tens of seconds, and almost every wait ends
// long before it; a timer (or an object and closure) per wait outlived the wait often enough to
// load V8's old generation (figures: docs/architecture.md, "Why some things are the way they
// are"), so the waiter itself is the entry. One timer is armed for the earliest deadline; a cancelled wait is only dropped from the set, and
// the timer, when it fires, expires what is due and re-arms for the next. With one timeout in use
// it fires about once per timeout.
//
// The timer keeps the process alive only while something waits: once the set is empty it is
// unref'd (and left armed for the next wait), so a server that stops, or a test that ends, is not
// held up by a deadline nobody waits for.

/** Something that waits with a bound: the deadline (on `performance.now()`'s clock) and what to do then. */
export interface Waiting {
  deadlineAt: number;
  expire(): void;
}

/** A set of deadlines served by a single timer. */
export class Deadlines {
  #due = new Set<Waiting>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  #armedAt = Infinity;
  #refed = false;
  /** How many times a timer was set (the point: far fewer than waits). */
  armed = 0;

  /** Calls `waiting.expire()` in `ms` unless cancelled first (the waiter is the entry: no object per wait). */
  add(waiting: Waiting, ms: number): void {
    const at = performance.now() + ms;
    waiting.deadlineAt = at;
    this.#due.add(waiting);
    if (at < this.#armedAt) this.#arm(at);
    else if (!this.#refed) this.#ref(true);
  }

  /** Drops a wait that ended; the timer stays for the waits still to come. */
  cancel(waiting: Waiting): void {
    if (this.#due.delete(waiting) && this.#due.size === 0) this.#ref(false);
  }

  /** How many deadlines are pending. */
  get size(): number {
    return this.#due.size;
  }

  #arm(at: number): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.armed++;
    this.#armedAt = at;
    // Whole milliseconds, rounded up: a timer set for 9.7 ms may run at 9, before its deadline.
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, Math.ceil(at - performance.now())));
    this.#refed = true;
  }

  #ref(on: boolean): void {
    if (this.#timer === null) return;
    if (on) Deno.refTimer(this.#timer);
    else Deno.unrefTimer(this.#timer);
    this.#refed = on;
  }

  #fire(): void {
    this.#timer = null;
    this.#armedAt = Infinity;
    this.#refed = false;
    // Due: less than a millisecond left (the timer's own resolution), so an early tick expires it
    // rather than setting another timer for the rest.
    const now = performance.now() + 1;
    let next = Infinity;
    const expired: Waiting[] = [];
    for (const d of this.#due) {
      if (d.deadlineAt <= now) expired.push(d);
      else if (d.deadlineAt < next) next = d.deadlineAt;
    }
    for (const d of expired) this.#due.delete(d);
    if (next < Infinity) this.#arm(next);
    for (const d of expired) d.expire();
  }
}
