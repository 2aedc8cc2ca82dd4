// A throw-away schema on a real PostgreSQL for a bench run, or why there is none.
import { type Database, openDatabase } from "../../db/mod.ts";

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
