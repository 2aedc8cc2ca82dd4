// Answer lines: a body of known length read whole and a streamed one give the same lines.
import assert from "node:assert/strict";
import { MAX_LINE_CHARS, readLines, responseLines } from "./ndjson.ts";

const enc = new TextEncoder();
const TEXT = "first\r\n\n  second  \nthird";

/** The text as a stream in pieces of `size` bytes. */
const streamOf = (text: string, size: number) =>
  ReadableStream.from(text.match(new RegExp(`[^]{1,${size}}`, "g"))!.map((p) => enc.encode(p)));

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

Deno.test("ndjson - lines of a whole body and of a stream in pieces are the same", async () => {
  const want = ["first", "second", "third"];
  const whole = new Response(TEXT, { headers: { "content-length": String(enc.encode(TEXT).length) } });
  assert.deepEqual(await collect(responseLines(whole)), want);
  assert.deepEqual(await collect(responseLines(new Response(streamOf(TEXT, 3)))), want);
  assert.deepEqual(await collect(readLines(streamOf(TEXT, 1))), want);
  assert.deepEqual(await collect(responseLines(new Response(null))), []);
});

Deno.test("ndjson - a streamed line over the limit is refused", async () => {
  const long = "A".repeat(MAX_LINE_CHARS + 10);
  await assert.rejects(collect(responseLines(new Response(streamOf(long, 64 * 1024)))), /too long/);
});
