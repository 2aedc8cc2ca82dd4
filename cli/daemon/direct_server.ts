// `POST /direct` on the node daemon (`infernet start --direct-port N`, docs/protocol.md §14): a
// consumer's encrypted request straight to the node. The body is NDJSON: line 1 the header
// `{"ticket", "consumer"}`, then one c2n frame per line to the end frame. The answer is 200
// NDJSON, one n2c frame per line, or a 4xx `{"error": {"code", "message"}}` before any work.
// The same admission and run serve requests relayed over the job socket (NodeDaemon).
import type { DirectStart } from "./node_daemon.ts";
import type { NextFrame } from "./direct_admission.ts";

/** What the handler needs from the daemon. */
export interface DirectDesk {
  openDirect(header: unknown, next: NextFrame): Promise<DirectStart>;
  /** A relay job posted straight to the node (`POST /job`, docs/protocol.md §18), when it takes them. */
  answerJob?(event: unknown): Response;
}

/** Largest `POST /job` body: a relay's event limit (docs/protocol.md §16). */
const MAX_JOB_BYTES = 128 * 1024;

/** Longest line accepted (a frame of NIP-44's largest plaintext is ~88 KB of base64). */
export const MAX_LINE_BYTES = 256 * 1024;

const encoder = new TextEncoder();
const NDJSON_HEADERS = { "content-type": "application/x-ndjson", "cache-control": "no-store" };

const errorResponse = (status: number, code: string, message: string) =>
  Response.json({ error: { code, message } }, { status });

/** A request body that cannot be read as NDJSON: a line too long, or the body broke off. */
class BodyError extends Error {}

/** A body up to this size, with its Content-Length, is read whole: less work than a stream's reads. */
const WHOLE_BODY_BYTES = 1024 * 1024;

/** The body's text in pieces, then null: one piece for a small body of known length, else as read. */
function bodyPieces(req: Request & { body: ReadableStream<Uint8Array> }): () => Promise<string | null> {
  const length = Number(req.headers.get("content-length") ?? NaN);
  if (length <= WHOLE_BODY_BYTES) {
    let read = false;
    return async () => {
      if (read) return null;
      read = true;
      return await req.text().catch((err) => {
        throw new BodyError(`the request body broke off: ${(err as Error).message}`, { cause: err });
      });
    };
  }
  // The reader and decoder directly, not a TextDecoderStream: one hop less per chunk.
  const reader = req.body.getReader();
  const decoder = new TextDecoder();
  return async () => {
    const { value, done } = await reader.read().catch((err) => {
      throw new BodyError(`the request body broke off: ${(err as Error).message}`, { cause: err });
    });
    return done ? (decoder.decode() || null) : decoder.decode(value, { stream: true });
  };
}

/** Reads a body as lines, each at most MAX_LINE_BYTES; throws a BodyError on a longer one or a cut body. */
function lineReader(nextPiece: () => Promise<string | null>): () => Promise<string | null> {
  let buffer = "";
  let pos = 0;
  let done = false;
  return async () => {
    for (;;) {
      const nl = buffer.indexOf("\n", pos);
      if ((nl >= 0 ? nl : buffer.length) - pos > MAX_LINE_BYTES) {
        throw new BodyError(`a line is over ${MAX_LINE_BYTES} bytes`);
      }
      if (nl >= 0) {
        const start = pos;
        pos = nl + 1;
        const line = buffer.charCodeAt(nl - 1) === 13 ? buffer.slice(start, nl - 1) : buffer.slice(start, nl);
        if (line.trim() === "") continue;
        return line;
      }
      if (done) {
        const rest = buffer.slice(pos).trim();
        buffer = "";
        pos = 0;
        return rest === "" ? null : rest;
      }
      const piece = await nextPiece();
      buffer = buffer.slice(pos) + (piece ?? "");
      pos = 0;
      if (piece === null) done = true;
    }
  };
}

/** The path of a request's absolute URL, without a URL object (a parse costs more than the check). */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const end = url.slice(start).search(/[?#]/);
  return end < 0 ? url.slice(start) : url.slice(start, start + end);
}

/** `POST /job`: one kind-5050 event as the body; the node's events come back as NDJSON lines. */
async function job(req: Request, answer: (event: unknown) => Response): Promise<Response> {
  // Read at most MAX_JOB_BYTES + 1 bytes: a larger body is refused without reading the rest.
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body?.getReader();
  while (reader && size <= MAX_JOB_BYTES) {
    const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
    if (done || !value) break;
    chunks.push(value);
    size += value.length;
  }
  if (size > MAX_JOB_BYTES) {
    await reader?.cancel().catch(() => {});
    return errorResponse(413, "request_too_large", `the body is over ${MAX_JOB_BYTES} bytes`);
  }
  const bytes = new Uint8Array(size);
  chunks.reduce((at, c) => (bytes.set(c, at), at + c.length), 0);
  const text = new TextDecoder().decode(bytes);
  try {
    return answer(JSON.parse(text));
  } catch {
    return errorResponse(400, "request_invalid", "the body is not a JSON event");
  }
}

/** The `POST /direct` handler (Request → Response); any other path is a 404. */
export function createDirectHandler(desk: DirectDesk): (req: Request) => Promise<Response> {
  return async (req) => {
    const path = pathOf(req.url);
    if (path === "/job" && req.method === "POST" && desk.answerJob) return await job(req, desk.answerJob);
    if (path !== "/direct") return errorResponse(404, "not_found", `no route ${path}`);
    if (req.method !== "POST") return errorResponse(405, "method_not_allowed", "POST /direct only");
    if (!req.body) return errorResponse(400, "ticket_invalid", "the body has no header line");
    const readLine = lineReader(bodyPieces(req as Request & { body: ReadableStream<Uint8Array> }));
    let header: unknown;
    try {
      const first = await readLine();
      header = first === null ? null : JSON.parse(first);
    } catch {
      return errorResponse(400, "ticket_invalid", "line 1 is not the JSON header");
    }
    let start: DirectStart;
    try {
      start = await desk.openDirect(header, readLine);
    } catch (err) {
      if (err instanceof BodyError) return errorResponse(400, "frame_invalid", err.message);
      throw err;
    }
    if (!start.ok) return errorResponse(start.refusal.status, start.refusal.code, start.refusal.message);
    const run = start.run;
    const ctrl = new AbortController();
    const onAbort = () => ctrl.abort();
    req.signal.addEventListener("abort", onAbort, { once: true });
    // The run resolves after its last frame, once the job's receipt is queued: the answer goes out
    // at that frame, not after the bookkeeping.
    const runJob = (emit: (payload: string, last: boolean) => void) =>
      run(emit, ctrl.signal).finally(() => req.signal.removeEventListener("abort", onAbort));
    if (!start.stream) {
      // A whole answer is one message and the end: sent in one body, without a stream's machinery.
      const frames: string[] = [];
      const answered = Promise.withResolvers<void>();
      const running = runJob((payload, last) => {
        frames.push(payload);
        if (last) answered.resolve();
      });
      await Promise.race([answered.promise, running]);
      // After the last frame the daemon logs its own failures (the receipt's bookkeeping).
      running.catch(() => {});
      return new Response(frames.join("\n") + "\n", { headers: NDJSON_HEADERS });
    }
    const body = new ReadableStream<Uint8Array>({
      start(out) {
        let closed = false;
        const emit = (payload: string, last: boolean) => {
          if (ctrl.signal.aborted || closed) return;
          out.enqueue(encoder.encode(payload + "\n"));
          if (last) {
            closed = true;
            out.close();
          }
        };
        runJob(emit).then(() => {
          if (!ctrl.signal.aborted && !closed) out.close();
        }, (err) => {
          if (!ctrl.signal.aborted && !closed) out.error(err);
        });
      },
      cancel() {
        ctrl.abort();
      },
    });
    return new Response(body, { headers: NDJSON_HEADERS });
  };
}

/** A running direct server. */
export interface DirectServer {
  port: number;
  close(): Promise<void>;
}

/** Serves `POST /direct` on `port` (all interfaces: consumers reach it from outside). */
export function serveDirect(desk: DirectDesk, opts: { port: number; hostname?: string }): DirectServer {
  const server = Deno.serve(
    { hostname: opts.hostname ?? "0.0.0.0", port: opts.port, onListen() {} },
    createDirectHandler(desk),
  );
  return { port: server.addr.port, close: () => server.shutdown() };
}
