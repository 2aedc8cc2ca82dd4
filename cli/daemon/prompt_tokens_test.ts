import assert from "node:assert/strict";
import { countPromptTokens, promptTokensOver } from "./prompt_tokens.ts";

Deno.test("prompt tokens - within by bytes, within by count, over with the count", async () => {
  const short = [{ role: "user", content: "benchmark prompt of a few words" }];
  assert.equal(await promptTokensOver(short, 31), null, "31 bytes are at most 31 tokens");
  const tokens = await countPromptTokens(short);
  assert.ok(tokens < 31);
  assert.equal(await promptTokensOver(short, tokens), null, "over by bytes, within by count");
  assert.equal(await promptTokensOver(short, tokens - 1), tokens, "over: the count");
  // Multi-byte text: 'é' is 2 bytes, '𝄞' (a surrogate pair) 4, CJK 3; array content parts count too.
  const wide = [{ role: "user", content: [{ type: "text", text: "é𝄞中" }] }, "not a message", { role: "x" }];
  const wideTokens = await countPromptTokens(wide);
  assert.equal(await promptTokensOver(wide, 9), null);
  assert.equal(await promptTokensOver(wide, wideTokens - 1), wideTokens);
  assert.equal(await promptTokensOver([], 0), null);
});
