import { deepStrictEqual as assertEquals, equal } from "node:assert/strict";
import { ChunkWriter, completionHead, completionObject, usageOf } from "./chat_stream.ts";

const head = { id: "chatcmpl-1", created: 1700000000, model: "tiny" };
const decode = (b: Uint8Array) => new TextDecoder().decode(b);
const events = (b: Uint8Array) =>
  decode(b).split("\n\n").filter(Boolean).map((e) => e.replace(/^data: /, "")).map((d) =>
    d === "[DONE]" ? d : JSON.parse(d)
  );

Deno.test("chat stream - chunks without include_usage carry no usage field, then finish and [DONE]", () => {
  const w = new ChunkWriter(head, { includeUsage: false });
  assertEquals(events(w.start())[0].choices[0].delta, { role: "assistant", content: "" });
  const c = events(w.content("hi"))[0];
  assertEquals(c.object, "chat.completion.chunk");
  assertEquals(c.choices, [{ index: 0, delta: { content: "hi" }, logprobs: null, finish_reason: null }]);
  equal("usage" in c, false);
  const end = events(w.finish("length", usageOf(3, 1)));
  assertEquals(end.length, 2);
  assertEquals(end[0].choices[0].finish_reason, "length");
  equal(end[1], "[DONE]");
});

Deno.test("chat stream - include_usage: usage null on every chunk, then a usage chunk with no choices", () => {
  const w = new ChunkWriter(head, { includeUsage: true });
  equal(events(w.content("x"))[0].usage, null);
  const end = events(w.finish("stop", usageOf(5, 2)));
  assertEquals(end[1], { ...head, object: "chat.completion.chunk", choices: [], usage: usageOf(5, 2) });
  equal(end[2], "[DONE]");
});

Deno.test("chat stream - the non-streamed object has one choice and usage totals", () => {
  // deno-lint-ignore no-explicit-any
  const o = completionObject(completionHead("tiny"), "ab", "stop", usageOf(4, 2)) as Record<string, any>;
  equal(o.object, "chat.completion");
  assertEquals(o.choices[0].message, { role: "assistant", content: "ab", refusal: null });
  assertEquals(o.usage, { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 });
  equal(/^chatcmpl-[0-9a-f]{32}$/.test(o.id), true);
});
