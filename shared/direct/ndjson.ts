// Newline-delimited frames (docs/protocol.md §14): a direct or relayed answer is one NIP-44
// payload per line.

/** A line longer than this is refused: a frame's payload is under 90 KB. */
export const MAX_LINE_CHARS = 1 << 20;

/** Yields the non-empty lines of a byte stream, as they arrive; throws on an overlong line. */
export async function* readLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let rest = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = rest.indexOf("\n")) !== -1) {
        const line = rest.slice(0, nl).trim();
        rest = rest.slice(nl + 1);
        if (line) yield line;
      }
      if (rest.length > MAX_LINE_CHARS) throw new Error("a frame line is too long");
    }
    rest += decoder.decode();
    if (rest.trim()) yield rest.trim();
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/**
 * Yields the non-empty lines of a response's body: read whole when its Content-Length is at most
 * MAX_LINE_CHARS bytes (a non-streamed answer: one body, less work than a stream's reads), else as
 * they arrive. Throws on an overlong line.
 */
export async function* responseLines(res: Response): AsyncGenerator<string> {
  if (!res.body) return;
  const length = Number(res.headers.get("content-length") ?? NaN);
  if (!(length <= MAX_LINE_CHARS)) return yield* readLines(res.body);
  for (const line of (await res.text()).split("\n")) {
    const trimmed = line.trim();
    if (trimmed) yield trimmed;
  }
}
