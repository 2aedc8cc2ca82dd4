// The one database client: porsager/postgres, either against a real server (DATABASE_URL) or
// against embedded PGlite served on a private loopback port by pglite-socket.
import postgres from "postgres";
import type { PgliteWorkerReply, PgliteWorkerRequest } from "./pglite_worker.ts";
import { WorkerPriority, type WorkerPriorityOptions, workerThreadIds } from "./worker_priority.ts";

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
  /** PGlite with `idlePriority`: what its worker thread runs at. */
  priority?: WorkerPriority;
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
  /**
   * PGlite in memory, started from a data directory {@link Database.dumpImage} made. One in a
   * SharedArrayBuffer reaches PGlite's thread without being copied (a ~40 MB image: ~0.35 s less).
   */
  image?: Uint8Array;
  /**
   * PGlite only: run its worker thread at idle priority, raised whenever it waits
   * (`db/worker_priority.ts`). What a server does so its database's bursts yield to requests.
   */
  idlePriority?: boolean | WorkerPriorityOptions;
}

const PARSERS = { types: { bigint: postgres.BigInt } };

let pgliteModule: Promise<WebAssembly.Module | null> | null = null;

/**
 * PGlite's WebAssembly, compiled once per process and handed to each PGlite thread (a module is
 * shared, not copied); null when it cannot be read here, and PGlite then compiles its own.
 */
function compiledPglite(): Promise<WebAssembly.Module | null> {
  return pgliteModule ??= (async () => {
    try {
      const wasm = new URL("./pglite.wasm", import.meta.resolve("@electric-sql/pglite"));
      return await WebAssembly.compile(await Deno.readFile(wasm));
    } catch {
      return null;
    }
  })();
}

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
  // PGlite's thread: the one its worker names, else the worker thread that appears while it starts.
  const threadsBefore = opts.idlePriority ? await workerThreadIds() : null;
  const worker = await startPgliteWorker(opts.dataDir ?? null, opts.schema ?? null, opts.image ?? null);
  const { host, port } = worker;
  let priority: WorkerPriority | undefined;
  if (opts.idlePriority) {
    const priorityOpts = opts.idlePriority === true ? {} : opts.idlePriority;
    const fresh = worker.thread !== null
      ? [worker.thread]
      : [...await workerThreadIds()].filter((id) => !threadsBefore!.has(id));
    priority = fresh.length === 1
      ? await WorkerPriority.start(fresh[0], worker.ping, priorityOpts)
      : WorkerPriority.off(`PGlite's thread not found (${fresh.length} new worker threads)`, priorityOpts);
  }
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
      await priority?.stop();
      await sql.end({ timeout: 5 });
      await worker.stop();
    },
    dumpImage: worker.dump,
    priority,
  };
}

interface PgliteWorker {
  host: string;
  port: number;
  /** The worker's kernel thread id, null where it could not be read. */
  thread: number | null;
  /** Resolves when the worker has answered a ping. */
  ping(): Promise<void>;
  stop(): Promise<void>;
  dump(): Promise<Uint8Array<ArrayBuffer>>;
}

/** Starts PGlite in a worker; resolves with its loopback address and a stop function. */
async function startPgliteWorker(
  dataDir: string | null,
  schema: string | null,
  image: Uint8Array | null,
): Promise<PgliteWorker> {
  const worker = new Worker(new URL("./pglite_worker.ts", import.meta.url).href, { type: "module" });
  // Pongs are answered as they come; every other reply answers the one request in flight.
  const pongs = new Map<number, () => void>();
  let pingSeq = 0;
  let waiting: { resolve(r: PgliteWorkerReply): void; reject(e: Error): void } | null = null;
  worker.onmessage = (e: MessageEvent<PgliteWorkerReply>) => {
    if (e.data.type === "pong") {
      pongs.get(e.data.n)?.();
      pongs.delete(e.data.n);
    } else {
      waiting?.resolve(e.data);
      waiting = null;
    }
  };
  worker.onerror = (e) => {
    e.preventDefault();
    waiting?.reject(new Error(`PGlite worker failed: ${e.message}`));
    waiting = null;
  };
  const next = () => new Promise<PgliteWorkerReply>((resolve, reject) => (waiting = { resolve, reject }));
  const send = (msg: PgliteWorkerRequest) => worker.postMessage(msg);
  const ready = next();
  send({ type: "open", dataDir, schema, image, wasm: await compiledPglite() });
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
    thread: reply.thread,
    ping() {
      const n = ++pingSeq;
      const answered = new Promise<void>((resolve) => pongs.set(n, resolve));
      send({ type: "ping", n });
      return answered;
    },
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
      // Pings still out are answered: nothing waits on a worker that is gone.
      for (const resolve of pongs.values()) resolve();
      pongs.clear();
    },
  };
}
