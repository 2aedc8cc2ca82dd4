// The one database client: porsager/postgres, either against a real server (DATABASE_URL) or
// against embedded PGlite served on a private loopback port by pglite-socket.
import postgres from "postgres";
import type { PgliteWorkerReply, PgliteWorkerRequest } from "./pglite_worker.ts";

/** The tagged-template SQL client every query in `db/` goes through. */
export type Sql = postgres.Sql<{ bigint: bigint }>;

/** An open database: its client, what it runs on, and how to close it. */
export interface Database {
  sql: Sql;
  kind: "pglite" | "postgres";
  /** A human-readable description for logs (never includes a password). */
  description: string;
  close(): Promise<void>;
  /**
   * PGlite only: the whole data directory as an uncompressed tarball, which `image` opens again
   * (what the tests start each fresh database from instead of running initdb).
   */
  dumpImage?(): Promise<Uint8Array<ArrayBuffer>>;
}

/** Options for {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** A postgres:// URL; when absent, embedded PGlite is used. */
  url?: string;
  /** PGlite's data directory; absent means in memory. */
  dataDir?: string;
  /** Schema to create and use (tests isolate themselves this way). */
  schema?: string;
  /** Connections to a real server (PGlite always uses one). */
  max?: number;
  /** PGlite in memory, started from a data directory {@link Database.dumpImage} made. */
  image?: Uint8Array<ArrayBuffer>;
}

const PARSERS = { types: { bigint: postgres.BigInt } };

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "postgres (unparsable URL)";
  }
}

/** Opens the database: real PostgreSQL when `url` is given, else embedded PGlite. */
export async function openDatabase(opts: OpenDatabaseOptions = {}): Promise<Database> {
  const connection = opts.schema ? { search_path: opts.schema } : undefined;
  if (opts.url) {
    const sql = postgres(opts.url, {
      max: opts.max ?? 10,
      onnotice: () => {},
      connection,
      ...PARSERS,
    }) as unknown as Sql;
    if (opts.schema) await sql.unsafe(`create schema if not exists "${opts.schema}"`);
    return {
      sql,
      kind: "postgres",
      description: `PostgreSQL at ${redact(opts.url)}`,
      close: () => sql.end({ timeout: 5 }),
    };
  }
  if (opts.image && opts.dataDir) throw new Error("a PGlite image opens in memory, not in a data directory");
  const { host, port, stop, dump } = await startPgliteWorker(
    opts.dataDir ?? null,
    opts.schema ?? null,
    opts.image ?? null,
  );
  // One connection: PGlite runs one statement at a time, and several connections misbehave.
  const sql = postgres({
    host,
    port,
    user: "postgres",
    database: "postgres",
    max: 1,
    onnotice: () => {},
    connection,
    ...PARSERS,
  }) as unknown as Sql;
  return {
    sql,
    kind: "pglite",
    description: opts.dataDir ? `PGlite in ${opts.dataDir}` : "PGlite in memory",
    async close() {
      await sql.end({ timeout: 5 });
      await stop();
    },
    dumpImage: dump,
  };
}

/** Starts PGlite in a worker; resolves with its loopback address and a stop function. */
async function startPgliteWorker(
  dataDir: string | null,
  schema: string | null,
  image: Uint8Array<ArrayBuffer> | null,
): Promise<{ host: string; port: number; stop(): Promise<void>; dump(): Promise<Uint8Array<ArrayBuffer>> }> {
  const worker = new Worker(new URL("./pglite_worker.ts", import.meta.url).href, { type: "module" });
  const next = () =>
    new Promise<PgliteWorkerReply>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<PgliteWorkerReply>) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`PGlite worker failed: ${e.message}`));
      };
    });
  const send = (msg: PgliteWorkerRequest) => worker.postMessage(msg);
  const ready = next();
  send({ type: "open", dataDir, schema, image });
  const reply = await ready.catch((err) => {
    worker.terminate();
    throw err;
  });
  if (reply.type !== "ready") {
    worker.terminate();
    throw new Error(`PGlite did not start${reply.type === "error" ? `: ${reply.message}` : ""}`);
  }
  return {
    host: reply.host,
    port: reply.port,
    async dump() {
      const reply = next();
      send({ type: "dump" });
      const r = await reply;
      if (r.type !== "image") {
        throw new Error(`PGlite could not dump its data${r.type === "error" ? `: ${r.message}` : ""}`);
      }
      return r.image;
    },
    async stop() {
      const closed = next();
      send({ type: "close" });
      await closed.catch(() => {});
      worker.terminate();
    },
  };
}
