import assert from "node:assert/strict";
import { LineLimitError, ndjsonLines } from "./ndjson_lines.ts";

function streamOf(...parts: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(enc.encode(p));
      c.close();
    },
  });
}

async function collect(body: ReadableStream<Uint8Array>, limits = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const line of ndjsonLines(body, limits)) out.push(line);
  return out;
}

Deno.test("ndjson lines - splits across chunks, drops blank lines and CRs, keeps a last unterminated line", async () => {
  assert.deepEqual(await collect(streamOf('{"a"', ":1}\r\nAg", "Bb\n\n", "last")), [
    '{"a":1}',
    "AgBb",
    "last",
  ]);
});

Deno.test("ndjson lines - a line or a body over its bound is refused", async () => {
  await assert.rejects(collect(streamOf("x".repeat(20)), { maxLineBytes: 10 }), LineLimitError);
  await assert.rejects(collect(streamOf("a\n".repeat(20)), { maxBytes: 10 }), LineLimitError);
});
