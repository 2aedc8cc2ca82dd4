// A token bucket per caller in PostgreSQL (table `rate_buckets`, migration 0016), so a limit holds
// across every instance: one statement per take, on the database's clock, under the row's lock.
// A refused take writes nothing and reads the bucket once more for the wait.
import type { Sql } from "../../db/mod.ts";
import type { Limiter, RateLimits } from "../rate_limit.ts";

/** The limit named `name` (one bucket per caller key), shared through PostgreSQL. */
export class PgRateLimiter implements Limiter {
  #sql: Sql;
  #name: string;
  #rate: number;
  #burst: number;

  constructor(sql: Sql, name: string, limits: RateLimits) {
    this.#sql = sql;
    this.#name = name;
    this.#rate = limits.ratePerSec;
    // A bucket smaller than one token would refuse every request for ever.
    this.#burst = Math.max(1, limits.burst);
  }

  async take(key: string): Promise<number> {
    if (this.#rate <= 0) return 0;
    const rate = this.#rate, burst = this.#burst;
    // The bucket as it stands now: its tokens refilled since `at`, capped at the burst.
    const taken = await this.#sql`
      insert into rate_buckets as b (limiter, key, tokens, at, full_at)
      values (${this.#name}, ${key}, ${burst - 1}::float8, now(),
        now() + interval '1 second' * (1 / ${rate}::float8))
      on conflict (limiter, key) do update set
        tokens = least(${burst}::float8, b.tokens + extract(epoch from now() - b.at)::float8 * ${rate}::float8) - 1,
        at = now(),
        full_at = now() + interval '1 second' * ((${burst}::float8
          - least(${burst}::float8, b.tokens + extract(epoch from now() - b.at)::float8 * ${rate}::float8) + 1)
          / ${rate}::float8)
      where least(${burst}::float8, b.tokens + extract(epoch from now() - b.at)::float8 * ${rate}::float8) >= 1
      returning 1`;
    if (taken.length) return 0;
    const [row] = await this.#sql<{ tokens: number }[]>`
      select least(${burst}::float8, tokens + extract(epoch from now() - at)::float8 * ${rate}::float8) as tokens
      from rate_buckets where limiter = ${this.#name} and key = ${key}`;
    return Math.max(1, Math.ceil((1 - (row?.tokens ?? 0)) / rate));
  }
}

/** Removes buckets that are full again (they hold nothing a fresh one would not); returns how many. */
export async function sweepRateBuckets(sql: Sql): Promise<number> {
  const res = await sql`delete from rate_buckets where full_at <= now()`;
  return res.count;
}
