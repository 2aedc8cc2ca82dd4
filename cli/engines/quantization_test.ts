import assert from "node:assert/strict";
import { quantizationOfLevel } from "./quantization.ts";

Deno.test("quantization - Ollama's GGUF levels map onto OpenRouter's names, others are unknown", () => {
  const cases: [unknown, string][] = [
    ["Q4_K_M", "int4"],
    ["Q4_0", "int4"],
    ["IQ4_XS", "int4"],
    ["q4_k_s", "int4"],
    ["Q8_0", "int8"],
    ["F16", "fp16"],
    ["BF16", "bf16"],
    ["F32", "fp32"],
    ["Q5_K_M", "unknown"],
    ["Q6_K", "unknown"],
    ["Q40", "unknown"],
    ["", "unknown"],
    [undefined, "unknown"],
  ];
  for (const [level, q] of cases) assert.equal(quantizationOfLevel(level), q, String(level));
});
