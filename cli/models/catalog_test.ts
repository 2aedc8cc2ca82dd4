import assert from "node:assert/strict";
import { CATALOG, recommendModels } from "./catalog.ts";
import { parseQuant, QUANT_QUALITY } from "./quant.ts";

Deno.test("catalog - every entry is a hub repo id with known quants", () => {
  for (const m of CATALOG) {
    assert.match(m.repo, /^[\w.-]+\/[\w.-]+-GGUF$/);
    for (const quant of Object.keys(m.quantsGb)) {
      assert.ok(quant in QUANT_QUALITY, `${m.repo} ${quant}`);
      assert.equal(parseQuant(`${m.stem}-${quant}.gguf`), quant);
    }
  }
});

Deno.test("catalog - recommends the largest models that fit, each at its best fitting quant", () => {
  const cpu = recommendModels({ vramMb: 0, ramMb: 8192 });
  assert.equal(cpu[0].repo, "bartowski/gemma-2-9b-it-GGUF", "9B fits 6 GiB at Q4_K_M; 12B does not");
  assert.equal(cpu[0].quant, "Q4_K_M");
  assert.equal(cpu.at(-1)!.quant, "Q8_0", "the 1B fits at Q8_0");
  const h100 = recommendModels({ vramMb: 81559, ramMb: 0 });
  assert.equal(h100[0].pull, "hf:bartowski/Llama-3.3-70B-Instruct-GGUF:Llama-3.3-70B-Instruct-Q4_K_M.gguf");
  assert.deepEqual(recommendModels({ vramMb: 1024, ramMb: 0 }), []);
});
