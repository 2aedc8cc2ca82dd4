import assert from "node:assert/strict";
import { pickUncensored, UNCENSORED } from "./uncensored.ts";

Deno.test("uncensored - the list holds real-looking GGUF repos with a few quants each", () => {
  for (const m of UNCENSORED) {
    assert.match(m.repo, /^[\w.-]+\/[\w.-]+-GGUF$/, m.repo);
    assert.ok(Object.keys(m.quantsGb).length >= 3, m.repo);
    assert.ok(/abliterated|Dolphin/i.test(m.repo), `${m.repo} is an uncensored model`);
  }
});

Deno.test("uncensored - picks the largest model that fits the VRAM, at its best fitting quant", () => {
  assert.equal(
    pickUncensored({ vramMb: 24_576, ramMb: 64_000 })?.repo,
    "bartowski/Qwen2.5-32B-Instruct-abliterated-GGUF",
  );
  const mid = pickUncensored({ vramMb: 16_384, ramMb: 32_000 })!;
  assert.equal(mid.repo, "bartowski/Dolphin3.0-Mistral-24B-GGUF");
  assert.equal(mid.quant, "Q4_K_M");
  const eight = pickUncensored({ vramMb: 8_192, ramMb: 16_000 })!;
  assert.equal(eight.paramsB > 7, true);
  assert.equal(
    pickUncensored({ vramMb: 4_096, ramMb: 8_000 })?.repo,
    "bartowski/Llama-3.2-3B-Instruct-abliterated-GGUF",
  );
  assert.equal(pickUncensored({ vramMb: 0, ramMb: 2_048 }), null);
});
