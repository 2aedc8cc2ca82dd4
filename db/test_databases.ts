// Runs a database test on every backend the ledger supports: embedded PGlite always, and the
// real PostgreSQL when it answers (INFERNET_TEST_DATABASE_URL, default the machine's local one).
// With INFERNET_REQUIRE_POSTGRES=1 (CI), an unreachable PostgreSQL is a failure, not a skip.
import postgres from "postgres";
import { type Database, openDatabase } from "./client.ts";
import { migrate } from "./migrate.ts";

export const POSTGRES_URL = Deno.env.get("INFERNET_TEST_DATABASE_URL") ??
  "postgres://postgres@127.0.0.1:5432/test";
export const REQUIRE_POSTGRES = Deno.env.get("INFERNET_REQUIRE_POSTGRES") === "1";

async function postgresAnswers(url: string): Promise<boolean> {
  const probe = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await probe`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await probe.end({ timeout: 1 });
  }
}

/** Whether the real PostgreSQL answered when the tests started. */
export const POSTGRES_AVAILABLE = await postgresAnswers(POSTGRES_URL);

if (!POSTGRES_AVAILABLE) {
  console.error(
    `%cdb tests: PostgreSQL at ${POSTGRES_URL} did not answer; ${
      REQUIRE_POSTGRES ? "it is required (INFERNET_REQUIRE_POSTGRES=1)" : "running on PGlite only"
    }`,
    "color: yellow",
  );
}

/** Opens a fresh, migrated database of one kind in a schema of its own; close it with `drop()`. */
export async function openTestDatabase(
  kind: "pglite" | "postgres",
): Promise<Database & { drop(): Promise<void> }> {
  const schema = `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const db = await openDatabase(kind === "postgres" ? { url: POSTGRES_URL, schema, max: 4 } : {});
  await migrate(db.sql);
  return {
    ...db,
    async drop() {
      if (kind === "postgres") await db.sql.unsafe(`drop schema if exists "${schema}" cascade`);
      await db.close();
    },
  };
}

/** Registers `fn` as one test per backend: "name [pglite]" and "name [postgres]". */
export function testOnEachDatabase(name: string, fn: (db: Database) => Promise<void>): void {
  for (const kind of ["pglite", "postgres"] as const) {
    const unavailable = kind === "postgres" && !POSTGRES_AVAILABLE;
    Deno.test({
      name: `${name} [${kind}]`,
      ignore: unavailable && !REQUIRE_POSTGRES,
      async fn() {
        if (unavailable) throw new Error(`PostgreSQL at ${POSTGRES_URL} is required but did not answer`);
        const db = await openTestDatabase(kind);
        try {
          await fn(db);
        } finally {
          await db.drop();
        }
      },
    });
  }
}
