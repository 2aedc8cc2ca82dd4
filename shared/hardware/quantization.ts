// How a node's copy of a model is quantized, in OpenRouter's vocabulary
// (https://openrouter.ai/docs/features/provider-routing#quantization): declared per model in the
// node record, asked for with `provider.quantizations`.

/** OpenRouter's quantization values; "unknown" is what a node that does not say declares. */
export const QUANTIZATIONS = [
  "int4",
  "int8",
  "fp4",
  "fp6",
  "fp8",
  "fp16",
  "bf16",
  "fp32",
  "unknown",
] as const;

/** One of {@link QUANTIZATIONS}. */
export type Quantization = typeof QUANTIZATIONS[number];

/** Whether `x` is one of {@link QUANTIZATIONS}. */
export function isQuantization(x: unknown): x is Quantization {
  return typeof x === "string" && (QUANTIZATIONS as readonly string[]).includes(x);
}
