// The quantization a node declares for a model, read from what its engine says: Ollama's
// `details.quantization_level` (GGUF type names such as "Q4_K_M"), mapped onto OpenRouter's values.
// Types OpenRouter has no name for (Q5_K_M, Q6_K, Q3_K_S...) are "unknown".
import type { Quantization } from "../../shared/mod.ts";

const GGUF: readonly [RegExp, Quantization][] = [
  [/^I?Q4(_|$)/, "int4"],
  [/^Q8(_|$)/, "int8"],
  [/^F(P)?16$/, "fp16"],
  [/^BF16$/, "bf16"],
  [/^F(P)?32$/, "fp32"],
];

/** A GGUF quantization level ("Q4_K_M", "Q8_0", "F16"...) as OpenRouter names it; else "unknown". */
export function quantizationOfLevel(level: unknown): Quantization {
  if (typeof level !== "string") return "unknown";
  const upper = level.trim().toUpperCase();
  return GGUF.find(([pattern]) => pattern.test(upper))?.[1] ?? "unknown";
}
