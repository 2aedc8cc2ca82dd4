// What every instance of the control plane must see alike: the rate limits' buckets, and the small
// records of web/auth/ and the NIP-98 replay window (StateKv). `local`: in this process's memory
// and the local Deno KV file, the single-machine default. `postgres`: in the ledger's PostgreSQL,
// for several instances (docs/architecture.md, "Several instances: shared state").
import type { Sql } from "../../db/mod.ts";
import type { Logger } from "../../shared/mod.ts";
import { type Limiter, RateLimiter, type RateLimits } from "../rate_limit.ts";
import { PgRateLimiter, sweepRateBuckets } from "./pg_rate_limiter.ts";
import { PgStateKv } from "./pg_state_kv.ts";
import type { StateKv } from "./state_kv.ts";

/** Where shared state lives. */
export type SharedStateKind = "local" | "postgres";

/** The shared state of one control plane. */
export interface SharedState {
  kind: SharedStateKind;
  kv: StateKv;
  /** The limit named `name`; a name is one set of buckets, whichever instance takes from it. */
  limiter(name: string, limits: RateLimits): Limiter;
  close(): Promise<void>;
}

/** State in memory (rate limits) and in the given local KV (records): one instance. */
export function localState(kv: Deno.Kv): SharedState {
  return {
    kind: "local",
    kv,
    limiter: (_name, limits) => new RateLimiter(limits),
    close: () => Promise.resolve(),
  };
}

/** How often expired records and full buckets are removed. */
const SWEEP_INTERVAL_MS = 60_000;

/** State in PostgreSQL, shared by every instance on it; sweeps what expired once a minute. */
export function postgresState(sql: Sql, log: Logger): SharedState {
  const kv = new PgStateKv(sql);
  let sweeping: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    sweeping = Promise.all([kv.sweep(), sweepRateBuckets(sql)])
      .catch((err) => log.error("shared state sweep failed", { err }));
  }, SWEEP_INTERVAL_MS);
  return {
    kind: "postgres",
    kv,
    limiter: (name, limits) => new PgRateLimiter(sql, name, limits),
    async close() {
      clearInterval(timer);
      await sweeping;
    },
  };
}
