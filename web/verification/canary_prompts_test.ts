import assert from "node:assert/strict";
import { CANARY_PROMPT_COUNT, pickCanaryPrompt } from "./canary_prompts.ts";

Deno.test("canary prompts - varied, half rule-checked, the same key for the same prompt", () => {
  const seen = new Map<string, string>();
  let rules = 0;
  for (let i = 0; i < 2000; i++) {
    const p = pickCanaryPrompt(Math.random);
    const text = JSON.stringify([p.messages, p.seed, p.maxTokens]);
    assert.equal(seen.get(p.key) ?? text, text, "a key names one prompt");
    seen.set(p.key, text);
    if (p.expect !== null) {
      rules++;
      assert.ok(p.messages.at(-1)!.content.includes(p.expect));
    }
    assert.ok(p.maxTokens > 0);
  }
  assert.ok(seen.size > 100, `${seen.size} distinct prompts`);
  const sampled = [...seen.values()].map((t) => JSON.parse(t));
  assert.ok(new Set(sampled.map((x) => x[1])).size > 3, "seeds vary between prompts");
  assert.ok(new Set(sampled.map((x) => x[2])).size > 3, "limits vary between prompts");
  assert.ok(seen.size <= CANARY_PROMPT_COUNT * 2);
  assert.ok(rules > 800 && rules < 1200, `${rules} rule-checked of 2000`);
});
