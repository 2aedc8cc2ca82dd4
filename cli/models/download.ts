// Resumable downloads: bytes go to `<dest>.part`, a later run continues with `Range: bytes=N-`
// (RFC 9110 §14), the sha256 is checked against the hub's LFS hash, and only then is the part
// renamed to `<dest>`. A server that answers a Range with 200 sends the whole file again, so the
// part is restarted; a 206 must start exactly where the part ends. A cut connection is retried a
// few times, and if the run ends anyway (or is interrupted) the part stays for the next run.
import { createHash, type Hash } from "node:crypto";
import { CliError } from "../cli_error.ts";

/** Progress of one file: bytes on disk so far, of the total when known. */
export interface DownloadProgress {
  doneBytes: number;
  totalBytes: number | null;
}

/** What `downloadFile` needs; fetch, signal, and the retry policy can be swapped in tests. */
export interface DownloadOptions {
  url: string;
  dest: string;
  headers?: Record<string, string>;
  expectedSize: number | null;
  /** The sha256 (hex) the hub lists; null skips the check (non-LFS files). */
  expectedSha256: string | null;
  /** Turns a non-2xx response into the error to throw (e.g. the hub's gated-repo message). */
  onHttpError?: (res: Response) => Promise<CliError>;
  onProgress?: (p: DownloadProgress) => void;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** Extra attempts after a cut connection (default 2), each resuming with Range. */
  retries?: number;
  retryDelayMs?: number;
}

/** A finished download. */
export interface DownloadResult {
  path: string;
  bytes: number;
  sha256: string;
  /** Bytes already in the `.part` when this run started (0 for a fresh download). */
  resumedFromBytes: number;
}

const HASH_READ_CHUNK = 4 * 1024 * 1024;

async function sizeOf(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return 0;
    throw err;
  }
}

// Native sha256 (node:crypto) rather than WebCrypto: model files are gigabytes, hashed as they
// stream, and WebCrypto has no incremental digest.
async function hashOfPrefix(path: string, bytes: number): Promise<Hash> {
  const hash = createHash("sha256");
  if (bytes === 0) return hash;
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(HASH_READ_CHUNK);
  let left = bytes;
  while (left > 0) {
    const n = await file.read(buf.subarray(0, Math.min(buf.length, left)));
    if (n === null) break;
    hash.update(buf.subarray(0, n));
    left -= n;
  }
  return hash;
}

function contentRangeStart(res: Response): number | null {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers.get("content-range") ?? "");
  return m ? Number(m[1]) : null;
}

function interrupted(part: string): CliError {
  return new CliError(
    "interrupted",
    `interrupted; the partial download is kept in ${part}, run again to resume`,
    {
      exitCode: 130,
    },
  );
}

/** Downloads `url` to `dest` through `dest.part`, resuming a part left by an earlier run. */
export async function downloadFile(opts: DownloadOptions): Promise<DownloadResult> {
  const fetchFn = opts.fetch ?? fetch;
  const part = `${opts.dest}.part`;
  const retries = opts.retries ?? 2;
  let resumedFromBytes: number | null = null;
  let attempt = 0;
  let forceRestart = false;
  while (true) {
    let offset = forceRestart ? 0 : await sizeOf(part);
    if (opts.expectedSize !== null && offset > opts.expectedSize) offset = 0;
    resumedFromBytes ??= offset;
    forceRestart = false;
    let hash: Hash;
    const complete = opts.expectedSize !== null && offset === opts.expectedSize && offset > 0;
    if (complete) {
      hash = await hashOfPrefix(part, offset);
    } else {
      const headers = { ...opts.headers, ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) };
      let res: Response;
      try {
        res = await fetchFn(opts.url, { headers, signal: opts.signal });
      } catch (err) {
        if (opts.signal?.aborted) throw interrupted(part);
        if (attempt++ < retries) {
          await delay(opts.retryDelayMs ?? 1000, opts.signal);
          continue;
        }
        throw new CliError(
          "download_failed",
          `cannot reach ${new URL(opts.url).origin}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      if (res.status === 416 && offset > 0) {
        // The part is not a prefix the server can continue (the file changed): start over.
        await res.body?.cancel();
        forceRestart = true;
        continue;
      }
      if (!res.ok || !res.body) {
        throw opts.onHttpError
          ? await opts.onHttpError(res)
          : new CliError("download_failed", `HTTP ${res.status} for ${opts.url}`);
      }
      if (res.status === 206 && contentRangeStart(res) !== offset) {
        await res.body.cancel();
        forceRestart = true;
        continue;
      }
      // 200 to a Range request: the server sends the whole file, so the part starts over.
      if (res.status === 200) offset = 0;
      const total = opts.expectedSize ??
        (res.headers.has("content-length") ? offset + Number(res.headers.get("content-length")) : null);
      hash = await hashOfPrefix(part, offset);
      const received = await appendBody(res.body, part, offset, hash, opts.signal, (done) => {
        opts.onProgress?.({ doneBytes: done, totalBytes: total });
      });
      if (received.error) {
        if (opts.signal?.aborted) throw interrupted(part);
        if (attempt++ < retries) {
          await delay(opts.retryDelayMs ?? 1000, opts.signal);
          continue;
        }
        throw new CliError(
          "download_failed",
          `the connection was lost after ${received.bytes} bytes (${received.error.message}); the partial download is kept, run the same command again to resume`,
          { cause: received.error },
        );
      }
      offset = received.bytes;
    }
    const sha256 = hash.digest("hex");
    const size = await sizeOf(part);
    if (opts.expectedSize !== null && size !== opts.expectedSize) {
      await Deno.remove(part).catch(() => {});
      throw new CliError(
        "hash_mismatch",
        `${opts.dest}: got ${size} bytes, the hub lists ${opts.expectedSize}; deleted the partial file`,
      );
    }
    if (opts.expectedSha256 !== null && sha256 !== opts.expectedSha256) {
      await Deno.remove(part).catch(() => {});
      throw new CliError(
        "hash_mismatch",
        `sha256 mismatch for ${
          opts.dest.split("/").pop()
        }: the hub lists ${opts.expectedSha256}, the download is ${sha256}; deleted the partial file`,
      );
    }
    await Deno.rename(part, opts.dest);
    return { path: opts.dest, bytes: size, sha256, resumedFromBytes };
  }
}

// Writes a response body at `offset` of the part, hashing as it goes; a read error ends it early.
async function appendBody(
  body: ReadableStream<Uint8Array>,
  part: string,
  offset: number,
  hash: Hash,
  signal: AbortSignal | undefined,
  onBytes: (done: number) => void,
): Promise<{ bytes: number; error: Error | null }> {
  using file = await Deno.open(part, {
    write: true,
    create: true,
    truncate: offset === 0,
    append: offset > 0,
  });
  let done = offset;
  onBytes(done);
  try {
    for await (const chunk of body) {
      // Stop between chunks too: not every body ends when the request's signal aborts.
      signal?.throwIfAborted();
      for (let written = 0; written < chunk.length;) written += await file.write(chunk.subarray(written));
      hash.update(chunk);
      done += chunk.length;
      onBytes(done);
    }
    return { bytes: done, error: null };
  } catch (err) {
    return { bytes: done, error: err instanceof Error ? err : new Error(String(err)) };
  }
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
