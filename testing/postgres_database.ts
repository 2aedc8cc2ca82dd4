// A PostgreSQL database of its own for a test that runs several processes on one database (each
// connects by URL, so a schema is not enough): created empty, dropped with its connections after.
import postgres from "postgres";
import { POSTGRES_AVAILABLE, POSTGRES_URL, REQUIRE_POSTGRES } from "./databases.ts";

/** A database created for one test. */
export interface TestPostgresDatabase {
  name: string;
  url: string;
  /** Drops it, ending whatever sessions are still open on it. */
  drop(): Promise<void>;
}

/** Whether tests needing the real PostgreSQL run (ignored when it does not answer, unless required). */
export const POSTGRES_TESTS_IGNORED = !POSTGRES_AVAILABLE && !REQUIRE_POSTGRES;

/** Creates a uniquely named, empty database on the test server. */
export async function createPostgresDatabase(): Promise<TestPostgresDatabase> {
  if (!POSTGRES_AVAILABLE) throw new Error(`PostgreSQL at ${POSTGRES_URL} is required but did not answer`);
  const name = `infernet_t_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const admin = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end({ timeout: 1 });
  }
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const sql = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
  };
}
