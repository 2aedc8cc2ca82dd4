// Embedded PostgreSQL in a worker: PGlite runs its WASM and its file I/O synchronously, so on the
// server's own thread every query would stall HTTP requests. Here it serves the PostgreSQL wire
// protocol on a private loopback port (pglite-socket) and the server connects like to any other.
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { currentThreadId } from "./worker_priority.ts";

/** Messages into the worker. */
export type PgliteWorkerRequest =
  | {
    type: "open";
    dataDir: string | null;
    schema: string | null;
    image: Uint8Array | null;
    /** PGlite's WebAssembly, compiled by the opener (null: PGlite compiles it). */
    wasm: WebAssembly.Module | null;
  }
  | { type: "dump" }
  | { type: "close" }
  /** Answered at once with a pong: how the control plane sees whether this thread gets a CPU. */
  | { type: "ping"; n: number };

/** Messages out of the worker. */
export type PgliteWorkerReply =
  /** `thread`: this worker's kernel thread id (null where it cannot be read). */
  | { type: "ready"; host: string; port: number; thread: number | null }
  | { type: "pong"; n: number }
  | { type: "image"; image: Uint8Array<ArrayBuffer> }
  | { type: "closed" }
  | { type: "error"; message: string };

const scope = self as unknown as {
  postMessage(msg: PgliteWorkerReply, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<PgliteWorkerRequest>) => void) | null;
};

/**
 * A data directory image as PGlite reads it: it asks for the bytes once, views them and copies
 * each file out into its in-memory file system. A real Blob would cost two more copies of ~40 MB
 * (~0.35 s a database here); an image the opener shares (a SharedArrayBuffer) is not copied at all.
 */
class ImageBlob extends Blob {
  #bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    super([], { type: "application/x-tar" });
    this.#bytes = bytes;
  }
  override get size(): number {
    return this.#bytes.byteLength;
  }
  override arrayBuffer(): Promise<ArrayBuffer> {
    const b = this.#bytes;
    // Only read (viewed, then sliced per file), so a shared buffer serves as well as its own.
    const whole = b.byteOffset === 0 && b.byteLength === b.buffer.byteLength;
    return Promise.resolve((whole ? b.buffer : b.slice().buffer) as ArrayBuffer);
  }
}

let db: PGlite | null = null;
let server: PGLiteSocketServer | null = null;

scope.onmessage = async (e) => {
  if (e.data.type === "ping") return scope.postMessage({ type: "pong", n: e.data.n });
  try {
    if (e.data.type === "open") {
      const { dataDir, image, wasm } = e.data;
      // An image is a data directory as `dump` made it: starting from one skips initdb (~2 s).
      db = new PGlite({
        ...(image ? { loadDataDir: new ImageBlob(image) } : dataDir ? { dataDir } : {}),
        ...(wasm ? { pgliteWasmModule: wasm } : {}),
      });
      await db.waitReady;
      if (e.data.schema) await db.exec(`create schema if not exists "${e.data.schema}"`);
      server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0 });
      await server.start();
      const [host, port] = server.getServerConn().split(":");
      scope.postMessage({ type: "ready", host, port: Number(port), thread: currentThreadId() });
    } else if (e.data.type === "dump") {
      if (!db) throw new Error("no database is open");
      const image = new Uint8Array(await (await db.dumpDataDir("none")).arrayBuffer());
      scope.postMessage({ type: "image", image }, [image.buffer]);
    } else {
      await server?.stop();
      await db?.close();
      scope.postMessage({ type: "closed" });
    }
  } catch (err) {
    scope.postMessage({ type: "error", message: err instanceof Error ? err.message : String(err) });
  }
};
