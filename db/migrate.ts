// Forward-only, numbered migrations (`db/migrations/NNNN_name.sql`), each applied once inside a
// transaction and recorded in `schema_migrations`. Safe to re-run and to run from two processes.
import type { Sql } from "./client.ts";

const MIGRATIONS_DIR = new URL("./migrations/", import.meta.url);

/** A migration file: its version (the file name without `.sql`) and its SQL. */
export interface Migration {
  version: string;
  sql: string;
}

/** Reads the migration files in order. */
export async function readMigrations(dir: URL = MIGRATIONS_DIR): Promise<Migration[]> {
  const out: Migration[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && /^\d{4}_[a-z0-9_]+\.sql$/.test(entry.name)) {
      out.push({
        version: entry.name.replace(/\.sql$/, ""),
        sql: await Deno.readTextFile(new URL(entry.name, dir)),
      });
    }
  }
  return out.sort((a, b) => a.version.localeCompare(b.version));
}

/** Applies every migration not yet recorded; returns the versions it applied. */
export async function migrate(sql: Sql, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? await readMigrations();
  await sql`create table if not exists schema_migrations (
    version text primary key,
    applied_at timestamptz not null default now()
  )`;
  const applied: string[] = [];
  for (const m of all) {
    await sql.begin(async (tx) => {
      // Serialise concurrent migrators; the lock ends with the transaction.
      await tx`select pg_advisory_xact_lock(7346201)`;
      const [done] = await tx`select 1 from schema_migrations where version = ${m.version}`;
      if (done) return;
      await tx.unsafe(m.sql);
      await tx`insert into schema_migrations (version) values (${m.version})`;
      applied.push(m.version);
    });
  }
  return applied;
}
