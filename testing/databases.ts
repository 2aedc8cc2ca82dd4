// Runs a database test on every backend the ledger supports: embedded PGlite always, and the
// real PostgreSQL when it answers (INFERNET_TEST_DATABASE_URL, default the machine's local one).
// With INFERNET_REQUIRE_POSTGRES=1 (CI), an unreachable PostgreSQL is a failure, not a skip.
//
// A fresh PGlite costs 2.4–3.5 s, most of it initdb, and the suite opens hundreds of them. Tests
// start each one instead from an image of a freshly migrated database (PGlite's own data-directory
// dump), made once and kept in the temp directory under a name that changes with the migrations and
// PGlite's version. The image asks for 16 MB of shared buffers instead of PostgreSQL's 128 MB (a
// test database holds a few MB), which starts it ~0.4 s sooner; it is held in a SharedArrayBuffer,
// so PGlite's thread gets it without a copy. Opening one took ~2.2 s here before, ~0.8 s after.
import postgres from "postgres";
import { createHash } from "node:crypto";
import { basename, dirname } from "node:path";
import { type Database, openDatabase } from "../db/client.ts";
import { migrate, readMigrations } from "../db/migrate.ts";

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

/** A test image's shared_buffers. */
export const TEST_SHARED_BUFFERS = "16MB";

/** Bump when the way images are made changes, so older ones are not used. */
const IMAGE_FORMAT = "2";

let defaultPath: Promise<string> | null = null;

/** Where the migrated image is kept: named by the migrations, PGlite's version and the format. */
export function migratedImagePath(): Promise<string> {
  return defaultPath ??= imagePath();
}

async function imagePath(): Promise<string> {
  const pkg = new URL("../package.json", import.meta.resolve("@electric-sql/pglite"));
  const { version } = JSON.parse(await Deno.readTextFile(pkg)) as { version: string };
  const hash = createHash("sha256").update(`${IMAGE_FORMAT}\0${version}`);
  for (const m of await readMigrations()) hash.update(`\0${m.version}\0${m.sql}`);
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  return `${tmp}/infernet-test-pglite-${hash.digest("hex").slice(0, 16)}.tar`;
}

const IMAGE_NAME = /^infernet-test-pglite-[0-9a-f]{16}\.tar$/;

const images = new Map<string, Promise<Uint8Array<SharedArrayBuffer>>>();

/** Makes the image: initdb, every migration, then PGlite's dump; written whole or not at all. */
async function makeImage(path: string): Promise<Uint8Array<ArrayBuffer>> {
  const db = await openDatabase();
  let image: Uint8Array<ArrayBuffer>;
  try {
    await migrate(db.sql);
    // Read at start-up (postgresql.auto.conf): smaller buffers, a shorter start.
    await db.sql.unsafe(`alter system set shared_buffers = '${TEST_SHARED_BUFFERS}'`);
    image = await db.dumpImage!();
  } finally {
    await db.close();
  }
  const partial = `${path}.${crypto.randomUUID()}.partial`;
  await Deno.writeFile(partial, image);
  await Deno.rename(partial, path);
  // Images for other migrations or PGlite versions are not used again (~40 MB each).
  for await (const e of Deno.readDir(dirname(path))) {
    if (IMAGE_NAME.test(e.name) && e.name !== basename(path)) {
      await Deno.remove(`${dirname(path)}/${e.name}`).catch(() => {});
    }
  }
  return image;
}

function imageAt(path: string): Promise<Uint8Array<SharedArrayBuffer>> {
  let image = images.get(path);
  if (!image) {
    image = Deno.readFile(path).catch((err) => {
      if (err instanceof Deno.errors.NotFound) return makeImage(path);
      throw err;
    }).then((bytes) => {
      const shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
      shared.set(bytes);
      return shared;
    });
    images.set(path, image);
  }
  return image;
}

/**
 * A fresh, migrated PGlite in memory, started from the image at `path` (made there first if it is
 * missing, and made again if it does not open). Each one has a ledger identity of its own.
 */
export async function openMigratedPglite(path?: string): Promise<Database> {
  const at = path ?? await migratedImagePath();
  let db: Database;
  try {
    db = await openDatabase({ image: await imageAt(at) });
  } catch {
    images.delete(at);
    await Deno.remove(at).catch(() => {});
    db = await openDatabase({ image: await imageAt(at) });
  }
  // Migration 0007's random id came with the image: every database gets its own.
  await db.sql`update ledger_identity set id = gen_random_uuid()::text`;
  return db;
}

/** Opens a fresh, migrated database of one kind in a schema of its own; close it with `drop()`. */
export async function openTestDatabase(
  kind: "pglite" | "postgres",
): Promise<Database & { drop(): Promise<void> }> {
  const schema = `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const db = kind === "postgres"
    ? await openDatabase({ url: POSTGRES_URL, schema, max: 4 })
    : await openMigratedPglite();
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
