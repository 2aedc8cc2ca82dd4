import assert from "node:assert/strict";
import { chatPromptTexts, generatedBesideContent, TOOL_CALL_TOKENS } from "./token_texts.ts";

Deno.test("token texts - a prompt counts tool calls it carries and the tools it offers", () => {
  const messages = [
    { role: "user", content: "weather?" },
    {
      role: "assistant",
      content: null,
      tool_calls: [{ id: "c", function: { name: "f", arguments: '{"a":1}' } }],
    },
    { role: "tool", tool_call_id: "c", content: "sunny" },
  ];
  const tools = [{ type: "function", function: { name: "f" } }];
  const parts = chatPromptTexts(messages, tools);
  assert.equal(parts.fixed, 3 + 3 * 3 + TOOL_CALL_TOKENS);
  assert.deepEqual(parts.texts, [
    "weather?",
    "user",
    "",
    "assistant",
    "f",
    '{"a":1}',
    "sunny",
    "tool",
    JSON.stringify(tools[0]),
  ]);
});

Deno.test("token texts - reasoning once, refusals, and tool calls old and new are generated text", () => {
  assert.deepEqual(generatedBesideContent({ content: "hi" }), { texts: [], fixed: 0 });
  assert.deepEqual(generatedBesideContent({ reasoning_content: "r", reasoning: "r" }).texts, ["r"]);
  assert.deepEqual(generatedBesideContent({ reasoning: "r2", refusal: "no" }).texts, ["r2", "no"]);
  assert.deepEqual(generatedBesideContent({ function_call: { name: "g", arguments: "{}" } }), {
    texts: ["g", "{}"],
    fixed: TOOL_CALL_TOKENS,
  });
  // A stream's later pieces of one call carry arguments only: the call's markup is counted once.
  assert.deepEqual(generatedBesideContent({ tool_calls: [{ index: 0, function: { arguments: '"x"' } }] }), {
    texts: ['"x"'],
    fixed: 0,
  });
  assert.deepEqual(generatedBesideContent(null), { texts: [], fixed: 0 });
});
