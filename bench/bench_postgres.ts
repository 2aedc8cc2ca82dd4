// A throw-away schema on a real PostgreSQL for a bench run, or why there is none.
import postgres from "postgres";
import { type Database, openDatabase } from "../db/mod.ts";

/** The PostgreSQL the benches use when `INFERNET_TEST_DATABASE_URL` is not set (this machine's). */
export const DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/test";

/** A database URL with its password hidden, for printing. */
export function redactUrl(url: string): string {
  return url.replace(/:[^:@/]*@/, ":***@");
}

/**
 * Opens a fresh schema on the PostgreSQL at `url` (`drop()` removes it and closes), or returns
 * "did not answer (…)" when it does not answer within 3 s.
 */
export async function openBenchPostgres(
  url: string,
  connections: number,
): Promise<(Database & { drop(): Promise<void> }) | string> {
  const schema = `bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("no answer within 3 s")), 3_000);
  });
  // openDatabase creates the schema, which is the first round trip: it is the probe.
  const opening = openDatabase({ url, schema, max: connections });
  try {
    const db = await Promise.race([opening, timeout]);
    return {
      ...db,
      async drop() {
        await db.sql.unsafe(`drop schema if exists "${schema}" cascade`);
        await db.close();
      },
    };
  } catch (err) {
    opening.then((db) => db.close(), () => {});
    return `did not answer (${err instanceof Error ? err.message : String(err)})`;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Creates an empty database next to the one at `url`, for a control plane started with its URL as
 * `DATABASE_URL` (`drop()` removes it once nothing uses it), or returns "did not answer (…)".
 */
export async function freshPostgresDatabase(
  url: string,
): Promise<{ url: string; drop(): Promise<void> } | string> {
  const name = `infernet_bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 3 });
  try {
    await sql.unsafe(`create database "${name}"`);
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {});
    return `did not answer (${err instanceof Error ? err.message : String(err)})`;
  }
  const fresh = new URL(url);
  fresh.pathname = `/${name}`;
  return {
    url: fresh.href,
    async drop() {
      try {
        await sql.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
  };
}
