// A relayed request's body as lines (NDJSON), each bounded in size and the whole bounded too: the
// relay forwards them as opaque strings and never parses them.
/** The longest line a relayed request may carry (an encrypted 64 KB frame is ~87 KB of base64). */
export const MAX_RELAY_LINE_BYTES = 128 * 1024;

/** The most bytes one relayed request may carry. */
export const MAX_RELAY_REQUEST_BYTES = 8 * 1024 * 1024;

/** Thrown when a line or the body is over its bound. */
export class LineLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LineLimitError";
  }
}

/** The non-empty lines of `body` (without their `\n` or `\r\n`), in order. */
export async function* ndjsonLines(
  body: ReadableStream<Uint8Array>,
  limits: { maxLineBytes?: number; maxBytes?: number } = {},
): AsyncGenerator<string> {
  const maxLine = limits.maxLineBytes ?? MAX_RELAY_LINE_BYTES;
  const maxBytes = limits.maxBytes ?? MAX_RELAY_REQUEST_BYTES;
  const decoder = new TextDecoder();
  let pending = "";
  let total = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) throw new LineLimitError(`the request is over ${maxBytes} bytes`);
      pending += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl).replace(/\r$/, "");
        pending = pending.slice(nl + 1);
        if (line) yield line;
      }
      // Characters count at most 3 UTF-8 bytes each here (a frame is ASCII): a cheap bound.
      if (pending.length > maxLine) throw new LineLimitError(`a line is over ${maxLine} bytes`);
    }
    pending += decoder.decode();
    if (pending.length > maxLine) throw new LineLimitError(`a line is over ${maxLine} bytes`);
    if (pending.replace(/\r$/, "")) yield pending.replace(/\r$/, "");
  } finally {
    await reader.cancel().catch(() => {});
  }
}
