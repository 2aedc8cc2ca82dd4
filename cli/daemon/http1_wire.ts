// HTTP/1.1 on one TCP connection, the client's side: the connection and its read buffer, a
// response's head, and its body read as it arrives (by Content-Length, chunked, or up to the
// close). cli/daemon/engine_http.ts keeps these connections alive and hands them out.
import type { EngineResponse } from "./engine_response.ts";

/** Per connection: response heads and each body read fit here. */
export const BUFFER_BYTES = 64 * 1024;
/** After the caller is done with an answer, how long its end may take to arrive for the
 * connection to be kept rather than closed. */
const FINISH_MS = 1_000;

/** One TCP connection and its read buffer: unread bytes are `buf[start, end)`. */
export class Conn {
  buf = new Uint8Array(BUFFER_BYTES);
  start = 0;
  end = 0;
  /** Bytes received since the connection was last taken for a request. */
  received = 0;
  closed = false;
  idleSince = 0;
  /** While idle: the read that notices the engine closing the connection. */
  #probe: Promise<number | null> | null = null;
  #generation = 0;
  #tcp: Deno.TcpConn;
  /** Every read or write in progress, so {@link settled} can wait for them after a close. */
  #ops = new Set<Promise<unknown>>();

  constructor(tcp: Deno.TcpConn) {
    this.#tcp = tcp;
  }

  #track<T>(p: Promise<T>): Promise<T> {
    const quiet = p.then(() => {}, () => {});
    this.#ops.add(quiet);
    void quiet.then(() => this.#ops.delete(quiet));
    return p;
  }

  async writeAll(bytes: Uint8Array): Promise<void> {
    for (let off = 0; off < bytes.length;) off += await this.#track(this.#tcp.write(bytes.subarray(off)));
  }

  /** Reads more bytes into the buffer; false at the end of the stream. */
  async fill(): Promise<boolean> {
    let n: number | null;
    if (this.#probe) {
      n = await this.#probe;
      this.#probe = null;
    } else {
      if (this.start === this.end) this.start = this.end = 0;
      else if (this.end === this.buf.length) {
        if (this.start === 0) throw new Error("the engine sent a line longer than 64 KB");
        this.buf.copyWithin(0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      }
      n = await this.#track(this.#tcp.read(this.buf.subarray(this.end)));
    }
    if (n === null) return false;
    this.end += n;
    this.received += n;
    return true;
  }

  /** Idle in the pool: a read stays pending, and `gone` runs if it completes while still idle. */
  sleep(gone: () => void): void {
    this.start = this.end = 0;
    this.idleSince = performance.now();
    const generation = ++this.#generation;
    const probe = this.#track(this.#tcp.read(this.buf)).catch(() => null);
    this.#probe = probe;
    void probe.then(() => {
      if (this.#generation === generation && this.#probe === probe) gone();
    });
  }

  /** Taken from the pool for a request; the pending read becomes its first read. */
  wake(): Conn {
    this.#generation++;
    this.received = 0;
    return this;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.#tcp.close();
    } catch { /* already closed */ }
  }

  /** Resolves once no read or write is pending (after {@link close}). */
  async settled(): Promise<void> {
    while (this.#ops.size > 0) await Promise.all(this.#ops);
  }
}

export interface Head {
  status: number;
  headers: Map<string, string>;
  /** How the body ends. */
  framing: "length" | "chunked" | "close";
  length: number;
  keepAlive: boolean;
}

function indexOfCrlfCrlf(buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i + 3 < to; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}

function indexOfCrlf(buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i + 1 < to; i++) if (buf[i] === 13 && buf[i + 1] === 10) return i;
  return -1;
}

const latin1 = new TextDecoder("latin1");

/** Reads the status line and headers (skipping 1xx answers). */
export async function readHead(conn: Conn): Promise<Head> {
  for (;;) {
    let scanned = conn.start;
    let at: number;
    while ((at = indexOfCrlfCrlf(conn.buf, scanned, conn.end)) < 0) {
      // The next scan starts where a CRLF CRLF split by this read could begin.
      scanned = Math.max(conn.start, conn.end - 3);
      const before = conn.start;
      if (!(await conn.fill())) {
        throw new Error(
          conn.received === 0
            ? "the engine closed the connection without answering"
            : "the engine closed the connection in the middle of its answer's headers",
        );
      }
      scanned -= before - conn.start; // fill() may have moved the unread bytes to the front
    }
    const lines = latin1.decode(conn.buf.subarray(conn.start, at)).split("\r\n");
    conn.start = at + 4;
    const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]);
    if (!m) throw new Error(`the engine did not answer in HTTP/1.x: ${lines[0].slice(0, 80)}`);
    const status = Number(m[2]);
    if (status >= 100 && status < 200) continue;
    const headers = new Map<string, string>();
    for (let i = 1; i < lines.length; i++) {
      const colon = lines[i].indexOf(":");
      if (colon <= 0) continue;
      const name = lines[i].slice(0, colon).trim().toLowerCase();
      const value = lines[i].slice(colon + 1).trim();
      headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
    }
    const connection = (headers.get("connection") ?? "").toLowerCase();
    let keepAlive = m[1] === "1" ? !connection.includes("close") : connection.includes("keep-alive");
    const te = (headers.get("transfer-encoding") ?? "").toLowerCase();
    const cl = headers.get("content-length");
    let framing: Head["framing"];
    let length = 0;
    if (status === 204 || status === 304) framing = "length";
    else if (te.includes("chunked")) framing = "chunked";
    else if (cl !== undefined && /^\d+$/.test(cl)) {
      framing = "length";
      length = Number(cl);
    } else {
      framing = "close";
      keepAlive = false;
    }
    return { status, headers, framing, length, keepAlive };
  }
}

type ChunkState = "size" | "data" | "data-end" | "trailer" | "done";

export class Http1Response implements EngineResponse {
  readonly status: number;
  readonly ok: boolean;
  #conn: Conn;
  #head: Head;
  #left: number;
  #chunk: ChunkState = "size";
  #ended = false;
  #signal: AbortSignal;
  #onAbort: () => void;
  #release: (conn: Conn, keep: boolean) => void;
  #released = false;

  constructor(
    conn: Conn,
    head: Head,
    signal: AbortSignal,
    onAbort: () => void,
    release: (conn: Conn, keep: boolean) => void,
  ) {
    this.#conn = conn;
    this.#head = head;
    this.status = head.status;
    this.ok = head.status >= 200 && head.status < 300;
    this.#left = head.length;
    this.#signal = signal;
    this.#onAbort = onAbort;
    this.#release = release;
  }

  header(name: string): string | null {
    return this.#head.headers.get(name.toLowerCase()) ?? null;
  }

  #done(keep: boolean): void {
    if (this.#released) return;
    this.#released = true;
    this.#ended = true;
    this.#signal.removeEventListener("abort", this.#onAbort);
    this.#release(this.#conn, keep && this.#head.keepAlive && this.#conn.start === this.#conn.end);
  }

  async #more(): Promise<void> {
    if (await this.#conn.fill()) return;
    if (this.#head.framing === "close") return;
    throw new Error("the engine closed the connection before the end of its answer");
  }

  async read(): Promise<Uint8Array | null> {
    try {
      return await this.#read();
    } catch (err) {
      this.#done(false);
      if (this.#signal.aborted) throw this.#signal.reason;
      throw err;
    }
  }

  async #read(): Promise<Uint8Array | null> {
    const c = this.#conn;
    if (this.#ended) {
      this.#done(true);
      return null;
    }
    switch (this.#head.framing) {
      case "length": {
        if (this.#left === 0) return this.#end();
        if (c.start === c.end) await this.#more();
        const n = Math.min(c.end - c.start, this.#left);
        const out = c.buf.subarray(c.start, c.start + n);
        c.start += n;
        this.#left -= n;
        return out;
      }
      case "close": {
        if (c.start === c.end && !(await c.fill())) return this.#end();
        const out = c.buf.subarray(c.start, c.end);
        c.start = c.end;
        return out;
      }
      case "chunked":
        for (;;) {
          switch (this.#chunk) {
            case "size": {
              const at = indexOfCrlf(c.buf, c.start, c.end);
              if (at < 0) {
                await this.#more();
                continue;
              }
              const line = latin1.decode(c.buf.subarray(c.start, at));
              const size = parseInt(line.split(";")[0].trim(), 16);
              if (!Number.isFinite(size) || size < 0) {
                throw new Error(`the engine sent a bad chunk size: ${line.slice(0, 40)}`);
              }
              c.start = at + 2;
              this.#left = size;
              this.#chunk = size === 0 ? "trailer" : "data";
              continue;
            }
            case "data": {
              if (c.start === c.end) await this.#more();
              const n = Math.min(c.end - c.start, this.#left);
              const out = c.buf.subarray(c.start, c.start + n);
              c.start += n;
              this.#left -= n;
              if (this.#left === 0) this.#chunk = "data-end";
              return out;
            }
            case "data-end": {
              if (c.end - c.start < 2) {
                await this.#more();
                continue;
              }
              if (c.buf[c.start] !== 13 || c.buf[c.start + 1] !== 10) {
                throw new Error("the engine sent a bad chunk end");
              }
              c.start += 2;
              this.#chunk = "size";
              continue;
            }
            case "trailer": {
              const at = indexOfCrlf(c.buf, c.start, c.end);
              if (at < 0) {
                await this.#more();
                continue;
              }
              const empty = at === c.start;
              c.start = at + 2;
              if (empty) return this.#end();
              continue;
            }
            case "done":
              return this.#end();
          }
        }
    }
  }

  #end(): null {
    this.#chunk = "done";
    this.#done(true);
    return null;
  }

  text(): Promise<string> {
    return readText(() => this.read());
  }

  cancel(): void {
    this.#done(false);
  }

  finish(): void {
    if (this.#released) return;
    if (this.#head.framing === "close" || this.#signal.aborted) {
      this.#done(false);
      return;
    }
    // The rest (usually the chunked body's last few bytes) is read, within FINISH_MS.
    const timer = setTimeout(() => this.#done(false), FINISH_MS);
    void (async () => {
      try {
        for (let n = 0; n < 64 && !this.#released; n++) if ((await this.#read()) === null) break;
      } catch { /* closed: not kept */ }
      clearTimeout(timer);
      this.#done(false);
    })();
  }
}

/** The rest of a body, read with `read`, as text. */
export async function readText(read: () => Promise<Uint8Array | null>): Promise<string> {
  const decoder = new TextDecoder();
  let out = "";
  for (let b = await read(); b; b = await read()) out += decoder.decode(b, { stream: true });
  return out + decoder.decode();
}
