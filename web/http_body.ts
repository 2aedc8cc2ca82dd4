// Request bodies read with a size limit, the one way the server reads a body. A declared
// Content-Length over the limit is refused before a byte is read; a body without one (chunked) is
// read up to the limit and refused past it, the rest left unread. A body with a declared length is
// read by `Request.arrayBuffer()` without touching `request.body`, which would make Deno build a
// stream for nothing (figures: docs/architecture.md, "Why some things are the way they are").
import { HttpError } from "./http_error.ts";

/** The largest JSON request body accepted (long contexts fit; a runaway upload does not). */
export const MAX_JSON_BODY_BYTES = 16 * 1024 * 1024;

/** The body's bytes, at most `maxBytes`; past that, `tooLarge()` is thrown. */
export async function readBodyBytes(
  req: Request,
  maxBytes: number,
  tooLarge: () => Error,
): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && !req.headers.has("transfer-encoding")) {
    if (Number(declared) > maxBytes) throw tooLarge();
    return new Uint8Array(await req.arrayBuffer());
  }
  if (req.body === null) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return all;
}

const decoder = new TextDecoder();

/** The body as UTF-8 text, at most `maxBytes`; past that, `tooLarge()` is thrown. */
export async function readBodyText(req: Request, maxBytes: number, tooLarge: () => Error): Promise<string> {
  return decoder.decode(await readBodyBytes(req, maxBytes, tooLarge));
}

/**
 * A JSON request body of at most `maxBytes` (16 MB by default), parsed; a larger one is a 413 and
 * one that is not JSON a 400 (`invalid_json`). With `emptyAs`, an empty body is that value.
 */
export async function readJsonBody(
  req: Request,
  opts: { maxBytes?: number; emptyAs?: unknown } = {},
): Promise<unknown> {
  const maxBytes = opts.maxBytes ?? MAX_JSON_BODY_BYTES;
  const text = await readBodyText(
    req,
    maxBytes,
    () =>
      new HttpError(413, `The request body is larger than ${formatLimit(maxBytes)}.`, {
        code: "invalid_request",
      }),
  );
  if ("emptyAs" in opts && text.trim() === "") return opts.emptyAs;
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(
      400,
      "We could not parse the JSON body of your request. The body must be valid JSON.",
      { code: "invalid_json" },
    );
  }
}

function formatLimit(bytes: number): string {
  return bytes % 1048576 === 0 ? `${bytes / 1048576} MB` : `${Math.ceil(bytes / 1024)} KB`;
}
