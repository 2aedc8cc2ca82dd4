// PGlite's worker thread at idle scheduling priority, with a watchdog that gives it normal priority
// back whenever it waits.
//
// Why: the recorder's batch commits are bursts of WASM that requests arriving meanwhile wait
// behind; at SCHED_IDLE every other thread preempts the worker (docs/architecture.md, "PGlite's
// thread runs at idle priority", has the trace and what else was tried). An idle thread starves
// while others keep the CPUs busy, so the control plane pings the worker every `intervalMs`; a
// pong later than `lateMs` restores normal priority for `holdMs`, and only a prompt pong after that
// lowers it again.
//
// Linux only, only where `chrt` (util-linux) can be run, and only where the thread may leave
// SCHED_IDLE again (see `cannotLeaveIdle`); anywhere else the worker keeps normal priority.

/** What the worker's thread runs at: idle, normal (the watchdog raised it), or unmanaged. */
export type WorkerPriorityState = "idle" | "normal" | "off";

/** Options for {@link WorkerPriority}. */
export interface WorkerPriorityOptions {
  /** A pong later than this (ms) means the thread waited for a CPU (or was busy): normal priority. */
  lateMs?: number;
  /** How often the worker is pinged (ms). */
  intervalMs?: number;
  /** How long (ms) the thread stays at normal priority after a late pong. */
  holdMs?: number;
  /** The `chrt` executable. */
  chrt?: string;
  /** Told of every change, with why. */
  onChange?: (state: WorkerPriorityState, why: string) => void;
}

/** Sets a thread's scheduling policy with `chrt`; throws with chrt's message when it cannot. */
async function setPolicy(chrt: string, tid: number, policy: "--idle" | "--other"): Promise<void> {
  const out = await new Deno.Command(chrt, {
    args: [policy, "--pid", "0", String(tid)],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(new TextDecoder().decode(out.stderr).trim() || `chrt exited with ${out.code}`);
  }
}

/** CAP_SYS_NICE's bit in /proc's capability masks. */
const CAP_SYS_NICE = 23n;

/**
 * Why thread `tid` of this process could not go from SCHED_IDLE back to SCHED_OTHER once lowered,
 * or null when it could. Linux lets a thread leave SCHED_IDLE only with CAP_SYS_NICE or an
 * RLIMIT_NICE of at least 20 − its nice value (sched(7); a non-root user has neither by default,
 * nor does root in a container that drops CAP_SYS_NICE, as Docker does). Read by `cat`: Deno lets a
 * process without --allow-all read none of its own /proc.
 */
export async function cannotLeaveIdle(tid: number): Promise<string | null> {
  const task = `/proc/${Deno.pid}/task/${tid}`;
  let text: string;
  try {
    const out = await new Deno.Command("cat", {
      args: [`${task}/status`, `/proc/${Deno.pid}/limits`, `${task}/stat`],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!out.success) return `cannot read ${task}`;
    text = new TextDecoder().decode(out.stdout);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  const capEff = text.match(/^CapEff:\s*([0-9a-f]+)/m);
  const niceLimit = text.match(/^Max nice priority\s+(\d+|unlimited)/m);
  // stat's fields after the command name (which may hold spaces) in parentheses: nice is the 17th.
  const nice = Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[16]);
  if (!capEff || !niceLimit || !Number.isInteger(nice)) return `cannot parse ${task}`;
  if ((BigInt(`0x${capEff[1]}`) >> CAP_SYS_NICE) & 1n) return null;
  if (niceLimit[1] === "unlimited" || 20 - nice <= Number(niceLimit[1])) return null;
  return `could not raise the thread again (no CAP_SYS_NICE, RLIMIT_NICE ${niceLimit[1]} < ${20 - nice})`;
}

/**
 * Manages one worker thread's priority. {@link WorkerPriority.start} lowers it and starts the
 * watchdog; `ping` must resolve when the worker has answered.
 */
export class WorkerPriority {
  #tid: number;
  #ping: () => Promise<void>;
  #opts: Required<Omit<WorkerPriorityOptions, "onChange">> & Pick<WorkerPriorityOptions, "onChange">;
  #state: WorkerPriorityState = "off";
  #normalUntil = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #changing: Promise<void> = Promise.resolve();
  #stopped = false;

  private constructor(tid: number, ping: () => Promise<void>, opts: WorkerPriorityOptions) {
    this.#tid = tid;
    this.#ping = ping;
    this.#opts = { lateMs: 50, intervalMs: 200, holdMs: 10_000, chrt: "chrt", ...opts };
  }

  /**
   * Lowers thread `tid` to SCHED_IDLE and watches it. When that is not possible here (not Linux,
   * no `chrt`, no permission to run it, or the thread could not leave SCHED_IDLE again), it keeps
   * its priority and the state is "off"; `why` (to `onChange`) says what stopped it.
   */
  static async start(
    tid: number,
    ping: () => Promise<void>,
    opts: WorkerPriorityOptions = {},
  ): Promise<WorkerPriority> {
    const p = new WorkerPriority(tid, ping, opts);
    try {
      // Lowering is always allowed; raising again is not for every user, and a thread that
      // could not be raised would starve unguarded. So only lower one that can come back.
      const cannot = await cannotLeaveIdle(tid);
      if (cannot) throw new Error(cannot);
      await setPolicy(p.#opts.chrt, tid, "--idle");
    } catch (err) {
      p.#opts.onChange?.("off", err instanceof Error ? err.message : String(err));
      return p;
    }
    p.#set("idle", "started");
    p.#schedule();
    return p;
  }

  /** The thread managed (0 when none). */
  get tid(): number {
    return this.#tid;
  }

  /** A thread that could not be found: nothing is managed; `why` goes to `onChange`. */
  static off(why: string, opts: WorkerPriorityOptions = {}): WorkerPriority {
    const p = new WorkerPriority(0, () => Promise.resolve(), opts);
    p.#stopped = true;
    p.#opts.onChange?.("off", why);
    return p;
  }

  /** What the thread runs at now. */
  get state(): WorkerPriorityState {
    return this.#state;
  }

  /** Stops the watchdog; the thread keeps its current policy (it is about to end). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#changing;
  }

  #set(state: WorkerPriorityState, why: string): void {
    this.#state = state;
    this.#opts.onChange?.(state, why);
  }

  #schedule(): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => void this.#check(), this.#opts.intervalMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  async #check(): Promise<void> {
    this.#timer = null;
    const started = performance.now();
    let late: ReturnType<typeof setTimeout> | undefined;
    const answered = this.#ping();
    // Raised as soon as the pong is late, not when it finally comes: a starved thread may take
    // a second to answer.
    const lateCheck = new Promise<"late">((resolve) => {
      const timer = setTimeout(() => resolve("late"), this.#opts.lateMs);
      Deno.unrefTimer(timer);
      late = timer;
    });
    const first = await Promise.race([answered.then(() => "pong" as const), lateCheck]);
    clearTimeout(late);
    if (first === "late") {
      this.#normalUntil = performance.now() + this.#opts.holdMs;
      if (this.#state === "idle") {
        await this.#change("--other", "normal", `a ping waited over ${this.#opts.lateMs} ms`);
      }
      await answered;
    } else if (this.#state === "normal" && performance.now() >= this.#normalUntil) {
      await this.#change("--idle", "idle", `answered in ${(performance.now() - started).toFixed(1)} ms`);
    }
    this.#schedule();
  }

  async #change(policy: "--idle" | "--other", state: WorkerPriorityState, why: string): Promise<void> {
    if (this.#stopped) return;
    this.#changing = setPolicy(this.#opts.chrt, this.#tid, policy).then(
      () => this.#set(state, why),
      (err) => {
        // The thread may have ended, or chrt vanished: stop managing it, at normal priority if
        // that still works.
        this.#stopped = true;
        this.#set("off", err instanceof Error ? err.message : String(err));
        return setPolicy(this.#opts.chrt, this.#tid, "--other").catch(() => {});
      },
    );
    await this.#changing;
  }
}

/**
 * The calling thread's kernel id on Linux, or null where it cannot be learnt: /proc/thread-self
 * (readable with --allow-all only), else gettid(2) through libc (--allow-ffi). A worker that
 * reports its own id is found for certain; a diff of the thread list before and after it started
 * is not, when other workers start meanwhile (another database, or another test file's).
 */
export function currentThreadId(): number | null {
  if (Deno.build.os !== "linux") return null;
  try {
    const id = Number(Deno.readLinkSync("/proc/thread-self").split("/").pop());
    if (Number.isInteger(id) && id > 0) return id;
  } catch {
    // Not readable under explicit permissions: ask the kernel instead.
  }
  try {
    const libc = Deno.dlopen("libc.so.6", { gettid: { parameters: [], result: "i32" } });
    try {
      const id = libc.symbols.gettid();
      return id > 0 ? id : null;
    } finally {
      libc.close();
    }
  } catch {
    return null;
  }
}

/**
 * The ids of this process's worker threads (Deno names them `worker-<n>`), read by a shell: Deno
 * lets a process without --allow-all read none of its own /proc. Empty where that fails.
 */
export async function workerThreadIds(): Promise<Set<number>> {
  try {
    const out = await new Deno.Command("sh", {
      args: [
        "-c",
        'for t in /proc/"$1"/task/*; do echo "${t##*/} $(cat "$t/comm")"; done',
        "sh",
        String(Deno.pid),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    const ids = new TextDecoder().decode(out.stdout).split("\n").flatMap((line) => {
      const [id, comm] = line.split(" ");
      return comm?.startsWith("worker-") ? [Number(id)] : [];
    });
    return new Set(ids.filter((id) => Number.isInteger(id) && id > 0));
  } catch {
    return new Set();
  }
}
