import assert from "node:assert/strict";
import { migrate, openDatabase } from "../db/mod.ts";
import { ledgerIdentity } from "../db/ledger_identity.ts";
import { openMigratedPglite, TEST_SHARED_BUFFERS } from "./databases.ts";

Deno.test("pglite image - opens as the database it was dumped from, as a copy of its own", async () => {
  const source = await openDatabase();
  let image: Uint8Array<ArrayBuffer>;
  try {
    await migrate(source.sql);
    await source.sql`create table kept (n int primary key)`;
    await source.sql`insert into kept values (1), (2)`;
    image = await source.dumpImage!();
    const copy = await openDatabase({ image });
    try {
      assert.deepEqual(await migrate(copy.sql), [], "the copy is migrated already");
      assert.deepEqual((await copy.sql<{ n: number }[]>`select n from kept order by n`).map((r) => r.n), [
        1,
        2,
      ]);
      await copy.sql`insert into kept values (3)`;
      assert.deepEqual((await copy.sql`select n from kept`).length, 3);
    } finally {
      await copy.close();
    }
    assert.deepEqual((await source.sql`select n from kept`).length, 2, "writes to the copy stay in the copy");
  } finally {
    await source.close();
  }
  await assert.rejects(
    () => openDatabase({ image, dataDir: "/nonexistent" }),
    /a PGlite image opens in memory/,
  );
});

Deno.test("pglite image - the tests' kept image is made when missing (removing stale ones), made again when it does not open", async () => {
  const dir = await Deno.makeTempDir({ prefix: "infernet-image-test-" });
  const path = `${dir}/infernet-test-pglite-${"1".repeat(16)}.tar`;
  const stale = `${dir}/infernet-test-pglite-${"0".repeat(16)}.tar`;
  try {
    await Deno.writeTextFile(stale, "an image for other migrations");
    const first = await openMigratedPglite(path);
    let firstLedger: string;
    try {
      assert.deepEqual(await migrate(first.sql), [], "started migrated");
      firstLedger = await ledgerIdentity(first.sql);
      const [{ shared_buffers }] = await first.sql<{ shared_buffers: string }[]>`show shared_buffers`;
      assert.equal(shared_buffers, TEST_SHARED_BUFFERS, "the image's own setting");
    } finally {
      await first.close();
    }
    assert.ok((await Deno.stat(path)).size > 1_000_000, "the image was written");
    await assert.rejects(
      () => Deno.stat(stale),
      Deno.errors.NotFound,
      "an image for other migrations is removed",
    );
    const again = await openMigratedPglite(path);
    try {
      assert.notEqual(await ledgerIdentity(again.sql), firstLedger, "each database has a ledger of its own");
    } finally {
      await again.close();
    }
    // A kept image that PGlite cannot open (here: garbage) is replaced, and the database still opens.
    const garbage = `${dir}/garbage.tar`;
    await Deno.writeTextFile(garbage, "not a tarball".repeat(100));
    const second = await openMigratedPglite(garbage);
    try {
      assert.deepEqual(await migrate(second.sql), []);
      await second.sql`insert into api_keys (key_hash, key_prefix) values ('h', 'inf_')`;
    } finally {
      await second.close();
    }
    assert.ok((await Deno.stat(garbage)).size > 1_000_000, "the garbage was replaced by an image");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
