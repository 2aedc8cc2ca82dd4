// StateKv on PostgreSQL (table `shared_state`, migration 0016): what several control-plane
// instances share. A check-and-set takes a transaction-scoped advisory lock per key it touches, so
// two instances checking that the same key is absent cannot both write it.
import type { Sql } from "../../db/mod.ts";
import type { StateAtomic, StateKv } from "./state_kv.ts";

/** A Deno KV key as the text stored in `shared_state.key` (strings and numbers only). */
export function encodeKey(key: Deno.KvKey): string {
  for (const part of key) {
    if (typeof part !== "string" && typeof part !== "number") {
      throw new TypeError(`shared state keys hold strings and numbers, not ${typeof part}`);
    }
  }
  return JSON.stringify(key);
}

function versionstamp(version: bigint): string {
  return version.toString(16).padStart(20, "0");
}

type Mutation = { key: Deno.KvKey; value: unknown; expireIn?: number } | { key: Deno.KvKey; delete: true };

class PgAtomic implements StateAtomic {
  #checks: Deno.AtomicCheck[] = [];
  #mutations: Mutation[] = [];
  #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  check(...checks: Deno.AtomicCheck[]): StateAtomic {
    this.#checks.push(...checks);
    return this;
  }

  set(key: Deno.KvKey, value: unknown, options?: { expireIn?: number }): StateAtomic {
    this.#mutations.push({ key, value, expireIn: options?.expireIn });
    return this;
  }

  delete(key: Deno.KvKey): StateAtomic {
    this.#mutations.push({ key, delete: true });
    return this;
  }

  async commit(): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
    const checks = this.#checks.map((c) => ({ key: encodeKey(c.key), versionstamp: c.versionstamp }));
    const mutations = this.#mutations.map((m) => ({ ...m, text: encodeKey(m.key) }));
    const locked = [...new Set([...checks.map((c) => c.key), ...mutations.map((m) => m.text)])].sort();
    return await this.#sql.begin(async (tx) => {
      // Sorted, so two commits over the same keys never wait on each other in a cycle.
      for (const key of locked) await tx`select pg_advisory_xact_lock(hashtextextended(${key}, 16))`;
      for (const c of checks) {
        const [row] = await tx<{ version: bigint }[]>`
          select version from shared_state
          where key = ${c.key} and (expires_at is null or expires_at > now())`;
        const current = row ? versionstamp(row.version) : null;
        if (current !== c.versionstamp) return { ok: false } as Deno.KvCommitError;
      }
      const [{ v }] = await tx<{ v: bigint }[]>`select nextval('shared_state_version') as v`;
      for (const m of mutations) {
        if ("delete" in m) {
          await tx`delete from shared_state where key = ${m.text}`;
          continue;
        }
        await tx`
          insert into shared_state (key, value, version, expires_at)
          values (${m.text}, ${tx.json(m.value as never)}, ${v},
            ${m.expireIn === undefined ? null : m.expireIn}::float8 * interval '1 millisecond' + now())
          on conflict (key) do update
            set value = excluded.value, version = excluded.version, expires_at = excluded.expires_at`;
      }
      return { ok: true, versionstamp: versionstamp(v) } as Deno.KvCommitResult;
    });
  }
}

/** Small shared records in PostgreSQL; expired rows read as absent and are removed by `sweep`. */
export class PgStateKv implements StateKv {
  #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async get<T = unknown>(key: Deno.KvKey): Promise<Deno.KvEntryMaybe<T>> {
    const [row] = await this.#sql<{ value: T; version: bigint }[]>`
      select value, version from shared_state
      where key = ${encodeKey(key)} and (expires_at is null or expires_at > now())`;
    return row
      ? { key, value: row.value, versionstamp: versionstamp(row.version) }
      : { key, value: null, versionstamp: null };
  }

  async set(key: Deno.KvKey, value: unknown, options?: { expireIn?: number }): Promise<Deno.KvCommitResult> {
    const res = await this.atomic().set(key, value, options).commit();
    if (!res.ok) throw new Error("shared state write failed");
    return res;
  }

  async delete(key: Deno.KvKey): Promise<void> {
    await this.#sql`delete from shared_state where key = ${encodeKey(key)}`;
  }

  atomic(): StateAtomic {
    return new PgAtomic(this.#sql);
  }

  /** Removes expired records; returns how many. */
  async sweep(): Promise<number> {
    const res = await this.#sql`delete from shared_state where expires_at <= now()`;
    return res.count;
  }
}
