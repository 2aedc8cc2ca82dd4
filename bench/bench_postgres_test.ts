import assert from "node:assert/strict";
import postgres from "postgres";
import { freshPostgresDatabase } from "./bench_postgres.ts";
import { POSTGRES_AVAILABLE, POSTGRES_URL, REQUIRE_POSTGRES } from "../testing/databases.ts";

async function databaseExists(name: string): Promise<boolean> {
  const sql = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`select 1 from pg_database where datname = ${name}`;
    return rows.length === 1;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

Deno.test({
  name: "bench postgres - a fresh database is empty, usable through its URL, and gone after drop",
  ignore: !POSTGRES_AVAILABLE && !REQUIRE_POSTGRES,
  async fn() {
    const fresh = await freshPostgresDatabase(POSTGRES_URL);
    assert.notEqual(typeof fresh, "string", String(fresh));
    if (typeof fresh === "string") return;
    const name = new URL(fresh.url).pathname.slice(1);
    assert.match(name, /^infernet_bench_[0-9a-f]{12}$/);
    const sql = postgres(fresh.url, { max: 1, onnotice: () => {} });
    try {
      const [{ db, tables }] = await sql`
        select current_database() as db,
               (select count(*)::int from information_schema.tables where table_schema = 'public') as tables`;
      assert.equal(db, name);
      assert.equal(tables, 0);
      await sql`create table t (x int)`;
    } finally {
      await sql.end({ timeout: 1 });
    }
    // Dropping works even with a connection still open (a control plane that did not exit cleanly).
    const straggler = postgres(fresh.url, { max: 1, onnotice: () => {} });
    await straggler`select 1`;
    await fresh.drop();
    await straggler.end({ timeout: 1 }).catch(() => {});
    assert.equal(await databaseExists(name), false);
  },
});

Deno.test("bench postgres - a server that does not answer is a reason, not a throw", async () => {
  // A port nothing listens on: bind one, note it, close it.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const fresh = await freshPostgresDatabase(`postgres://postgres@127.0.0.1:${port}/test`);
  assert.equal(typeof fresh, "string");
  assert.match(fresh as string, /^did not answer \(.+\)$/);
});
