// The daemon's HTTP client for its engine: HTTP/1.1 over kept-alive TCP connections it holds
// itself, because every job is one POST to a nearby engine and `fetch`'s per-call objects cost
// more CPU than the request (figures: docs/architecture.md, "Why some things are the way they are").
//
// Engines speak plain HTTP/1.1 (Ollama, vLLM and SGLang behind uvicorn, llama.cpp's server); an
// `https:` engine URL goes through `fetch`, with the same interface. A response body is read as
// it arrives (cli/daemon/http1_wire.ts): by Content-Length, chunked, or up to the close. A
// connection whose answer was read to its end goes back to the pool; one idle there keeps a read
// pending, so an engine that closes it (an idle timeout) is noticed and it is dropped. A request
// that fails on a reused connection before any byte of the answer came back is sent again once,
// on a new connection: the engine closed it while idle and never saw the request. Aborting the
// signal closes the connection, which is how an engine learns that a job was cancelled.
import { BUFFER_BYTES, Conn, Http1Response, readHead, readText } from "./http1_wire.ts";
import type { EngineResponse } from "./engine_response.ts";

/** How many idle connections to one engine are kept. */
const MAX_IDLE = 64;
/** An idle connection older than this is not reused (engines close theirs after ~5 s). */
const IDLE_MS = 2_000;

const enc = new TextEncoder();

/** POSTs JSON to one engine, over connections it keeps alive. */
export class EngineClient {
  #base: URL;
  #host: string;
  #hostname: string;
  #port: number;
  /** Request URLs by path: a job's path is one of a few, and a URL parse costs more than the request. */
  #urls = new Map<string, URL>();
  #idle: Conn[] = [];
  #busy = new Set<Conn>();
  #closed = false;

  constructor(baseUrl: string) {
    this.#base = new URL(baseUrl);
    this.#host = this.#base.host;
    this.#hostname = this.#base.hostname.replace(/^\[(.*)\]$/, "$1");
    this.#port = Number(this.#base.port) || (this.#base.protocol === "https:" ? 443 : 80);
  }

  /** POSTs `body` (JSON text) to `path` under the engine's base URL. */
  async post(
    path: string,
    body: string,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<EngineResponse> {
    const url = this.#urlOf(path);
    if (this.#base.protocol !== "http:") return await viaFetch(url, body, headers, signal);
    if (this.#closed) throw new Error("engine client closed");
    signal.throwIfAborted();
    const request = encodeRequest(url.pathname + url.search, this.#host, headers, body);
    for (let attempt = 0;; attempt++) {
      const reused = this.#takeIdle();
      const conn = reused ?? await this.#connect(signal);
      this.#busy.add(conn);
      const onAbort = () => conn.close();
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        await conn.writeAll(request);
        const res = await readHead(conn);
        return new Http1Response(conn, res, signal, onAbort, (c, keep) => this.#release(c, keep));
      } catch (err) {
        signal.removeEventListener("abort", onAbort);
        this.#busy.delete(conn);
        conn.close();
        if (signal.aborted) throw signal.reason;
        // Only a reused connection that gave no byte back is retried: the engine had closed it.
        if (reused && conn.received === 0 && attempt === 0) continue;
        throw err;
      }
    }
  }

  #urlOf(path: string): URL {
    let url = this.#urls.get(path);
    if (url === undefined) {
      url = new URL(this.#base.pathname.replace(/\/$/, "") + path, this.#base);
      if (this.#urls.size < 16) this.#urls.set(path, url);
    }
    return url;
  }

  async #connect(signal: AbortSignal): Promise<Conn> {
    // `localhost` may name both loopbacks while the engine listens on one: try each, as fetch does.
    const hosts = this.#hostname === "localhost" ? ["127.0.0.1", "::1"] : [this.#hostname];
    let first: unknown;
    for (const hostname of hosts) {
      try {
        const tcp = await Deno.connect({ hostname, port: this.#port, signal });
        tcp.setNoDelay(true);
        return new Conn(tcp);
      } catch (err) {
        if (signal.aborted) throw err;
        first ??= err;
      }
    }
    throw first;
  }

  #takeIdle(): Conn | null {
    const now = performance.now();
    for (let c = this.#idle.pop(); c; c = this.#idle.pop()) {
      if (!c.closed && now - c.idleSince < IDLE_MS) return c.wake();
      c.close();
    }
    return null;
  }

  #release(conn: Conn, keep: boolean): void {
    this.#busy.delete(conn);
    if (!keep || this.#closed || conn.closed || this.#idle.length >= MAX_IDLE) {
      conn.close();
      return;
    }
    this.#idle.push(conn);
    conn.sleep(() => {
      // The engine closed it (or sent something unasked): it is no longer usable.
      const i = this.#idle.indexOf(conn);
      if (i >= 0) this.#idle.splice(i, 1);
      conn.close();
    });
  }

  /** Closes every connection; requests in flight fail. */
  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#idle, ...this.#busy];
    this.#idle = [];
    this.#busy.clear();
    for (const c of all) c.close();
    await Promise.all(all.map((c) => c.settled()));
  }
}

function encodeRequest(
  target: string,
  host: string,
  headers: Record<string, string>,
  body: string,
): Uint8Array {
  const payload = enc.encode(body);
  let head = `POST ${target} HTTP/1.1\r\nhost: ${host}\r\ncontent-length: ${payload.length}\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    if (/[\r\n]/.test(k + v)) throw new Error(`bad header ${k}`);
    head += `${k}: ${v}\r\n`;
  }
  const headBytes = enc.encode(head + "\r\n");
  const out = new Uint8Array(headBytes.length + payload.length);
  out.set(headBytes);
  out.set(payload, headBytes.length);
  return out;
}

/** An `https:` engine: the same interface over `fetch`. */
async function viaFetch(
  url: URL,
  body: string,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<EngineResponse> {
  const res = await fetch(url, { method: "POST", headers, body, signal });
  const reader = res.body?.getReader({ mode: "byob" });
  let buffer = new ArrayBuffer(BUFFER_BYTES);
  const read = async () => {
    if (!reader) return null;
    const r = await reader.read(new Uint8Array(buffer));
    if (r.value) buffer = r.value.buffer as ArrayBuffer;
    return r.done ? null : r.value;
  };
  return {
    status: res.status,
    ok: res.ok,
    header: (name) => res.headers.get(name),
    read,
    text: () => readText(read),
    finish: () => void reader?.cancel().catch(() => {}),
    cancel: () => void reader?.cancel().catch(() => {}),
  };
}
