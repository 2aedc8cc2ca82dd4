// What a load balancer asks: alive (`/healthz`: the process answers) and ready (`/readyz`: the
// database answers with every migration this build knows applied, every registered check passes,
// e.g. NATS when configured, and the instance is not draining). Draining starts on SIGTERM
// (web/main.ts): the instance says not ready, refuses new jobs and finishes the ones in flight.

/** One readiness check: resolves when the dependency answers, rejects with why not. */
export type ReadinessCheck = () => Promise<void>;

/** What `/readyz` answers. */
export interface Readiness {
  ready: boolean;
  draining: boolean;
  /** Each check's outcome: `ok` or the reason it failed. */
  checks: Record<string, string>;
}

/** A check that takes longer than this has failed (a load balancer probes every few seconds). */
const CHECK_TIMEOUT_MS = 2_000;

function withTimeout(check: ReadinessCheck, name: string): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`${name}: no answer within ${CHECK_TIMEOUT_MS} ms`), CHECK_TIMEOUT_MS);
  });
  const run = check().then(() => "ok", (err) => err instanceof Error ? err.message : String(err));
  return Promise.race([run, late]).finally(() => clearTimeout(timer));
}

/** An instance's readiness: its checks and whether it is draining. */
export class Health {
  #checks = new Map<string, ReadinessCheck>();
  #draining = false;

  /** Adds (or replaces) the check named `name`. */
  addCheck(name: string, check: ReadinessCheck): void {
    this.#checks.set(name, check);
  }

  /** From now on: not ready, and no new jobs. */
  drain(): void {
    this.#draining = true;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Runs every check (concurrently, each bounded in time). */
  async readiness(): Promise<Readiness> {
    const names = [...this.#checks.keys()];
    const outcomes = await Promise.all(names.map((n) => withTimeout(this.#checks.get(n)!, n)));
    const checks = Object.fromEntries(names.map((n, i) => [n, outcomes[i]]));
    return {
      ready: !this.#draining && outcomes.every((o) => o === "ok"),
      draining: this.#draining,
      checks,
    };
  }
}
