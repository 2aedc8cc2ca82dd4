import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { Token } from "node-llama-cpp";
import { type Detokenize, TextDelta } from "./text_delta.ts";

// A byte-level fake tokenizer: token n is byte n, decoded as UTF-8 (U+FFFD for a partial character).
const bytes: Detokenize = (tokens) => new TextDecoder().decode(new Uint8Array(tokens as unknown as number[]));
const tokensOf = (s: string) => [...new TextEncoder().encode(s)] as unknown as Token[];

function run(text: string, stops: string[]): { parts: string[]; stopped: boolean; rest: string } {
  const delta = new TextDelta(bytes, stops);
  const parts: string[] = [];
  let stopped = false;
  for (const t of tokensOf(text)) {
    const step = delta.push(t);
    if (step.text) parts.push(step.text);
    if (step.stopped) {
      stopped = true;
      break;
    }
  }
  return { parts, stopped, rest: delta.flush() };
}

Deno.test("text delta - releases each ASCII token at once without stop sequences", () => {
  assertEquals(run("abc", []), { parts: ["a", "b", "c"], stopped: false, rest: "" });
});

Deno.test("text delta - holds a multi-byte character until it is complete", () => {
  assertEquals(run("é✓", []).parts, ["é", "✓"]);
});

Deno.test("text delta - stops before a stop sequence and never returns it", () => {
  const r = run("hello END world", ["END"]);
  assertEquals(r.parts.join(""), "hello ");
  assertEquals(r.stopped, true);
  assertEquals(r.rest, "");
});

Deno.test("text delta - holds a possible stop prefix, then releases it when it is not one", () => {
  const r = run("aEN!b", ["END"]);
  assertEquals(r.parts, ["a", "EN!", "b"]);
  assertEquals(r.stopped, false);
});

Deno.test("text delta - flush returns a held prefix at the end of generation", () => {
  const r = run("abE", ["END"]);
  assertEquals(r.parts, ["a", "b"]);
  assertEquals(r.rest, "E");
});

Deno.test("text delta - the earliest of several stop sequences wins", () => {
  assertEquals(run("xxBByyAA", ["AA", "BB"]).parts.join(""), "xx");
});
