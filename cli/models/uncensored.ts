// The curated list behind `infernet uncensored`: well-known uncensored models in GGUF — either
// "abliterated" (the refusal direction removed from the weights, after Arditi et al. 2024,
// "Refusal in language models is mediated by a single direction"; popularised by mlabonne and
// huihui-ai) or fine-tuned without refusals (Eric Hartford's Dolphin series). All are in
// bartowski's packaging (`<stem>-<QUANT>.gguf`, one file per quant). Sizes are APPROXIMATE
// (decimal GB as the hub listed them when this list was written) and only rank the candidates;
// the pull always reads the real sizes and sha256 from the hub. Operators serving these models
// are responsible for how they are used; the control plane's own policies still apply.
import { type CatalogModel, type Recommendation, recommendModels } from "./catalog.ts";
import type { NodeMemory } from "./quant.ts";

/** The curated uncensored models (sizes approximate), in no particular order. */
export const UNCENSORED: readonly CatalogModel[] = [
  {
    repo: "bartowski/Llama-3.2-3B-Instruct-abliterated-GGUF",
    paramsB: 3.2,
    stem: "Llama-3.2-3B-Instruct-abliterated",
    quantsGb: { Q8_0: 3.42, Q6_K: 2.64, Q4_K_M: 2.02 },
    note: "Llama 3.2 3B, abliterated: small nodes and CPU",
  },
  {
    repo: "bartowski/Qwen2.5-7B-Instruct-abliterated-v2-GGUF",
    paramsB: 7.6,
    stem: "Qwen2.5-7B-Instruct-abliterated-v2",
    quantsGb: { Q8_0: 8.1, Q6_K: 6.25, Q5_K_M: 5.44, Q4_K_M: 4.68 },
    note: "Qwen 2.5 7B, abliterated (huihui-ai v2): multilingual, coding",
  },
  {
    repo: "bartowski/Meta-Llama-3.1-8B-Instruct-abliterated-GGUF",
    paramsB: 8.03,
    stem: "Meta-Llama-3.1-8B-Instruct-abliterated",
    quantsGb: { Q8_0: 8.54, Q6_K: 6.6, Q5_K_M: 5.73, Q4_K_M: 4.92 },
    note: "Llama 3.1 8B, abliterated (mlabonne): the best-known uncensored 8B",
  },
  {
    repo: "bartowski/Dolphin3.0-Llama3.1-8B-GGUF",
    paramsB: 8.02,
    stem: "Dolphin3.0-Llama3.1-8B",
    quantsGb: { Q8_0: 8.54, Q6_K: 6.6, Q5_K_M: 5.73, Q4_K_M: 4.92 },
    note: "Dolphin 3.0 on Llama 3.1 8B (Cognitive Computations): fine-tuned to comply",
  },
  {
    repo: "bartowski/Dolphin3.0-Mistral-24B-GGUF",
    paramsB: 23.6,
    stem: "Dolphin3.0-Mistral-24B",
    quantsGb: { Q8_0: 25.05, Q6_K: 19.35, Q5_K_M: 16.76, Q4_K_M: 14.33 },
    note: "Dolphin 3.0 on Mistral Small 24B: for 16–24 GB cards",
  },
  {
    repo: "bartowski/Qwen2.5-32B-Instruct-abliterated-GGUF",
    paramsB: 32.8,
    stem: "Qwen2.5-32B-Instruct-abliterated",
    quantsGb: { Q8_0: 34.82, Q6_K: 26.89, Q5_K_M: 23.26, Q4_K_M: 19.85 },
    note: "Qwen 2.5 32B, abliterated: the strongest here, 24 GB and up",
  },
];

/**
 * The best uncensored model for this node: the one with the most parameters that fits the
 * memory budget (quant.ts) at its best fitting quant; null when none fits.
 */
export function pickUncensored(
  memory: NodeMemory,
  list: readonly CatalogModel[] = UNCENSORED,
): Recommendation | null {
  return recommendModels(memory, list)[0] ?? null;
}
