// A small curated list of well-known GGUF repos for `infernet model recommend`: general-purpose
// instruct models with permissive or widely used licences, in bartowski's consistent GGUF
// packaging (one file per quant, named `<Model>-<QUANT>.gguf`). Sizes are APPROXIMATE (decimal
// GB as the hub showed them when the list was written); `model pull` always reads the real sizes
// and hashes from the hub. To add a model: a real repo id, its parameter count, and a few quants.
import { type GgufVariant, type NodeMemory, pickVariant } from "./quant.ts";

/** One curated model. */
export interface CatalogModel {
  repo: string;
  /** Billions of parameters. */
  paramsB: number;
  /** File-name stem; files are `<stem>-<QUANT>.gguf`. */
  stem: string;
  /** Approximate file size in GB per quant. */
  quantsGb: Readonly<Record<string, number>>;
  note: string;
}

/** A model that fits this node, at the best quant that fits. */
export interface Recommendation {
  repo: string;
  file: string;
  quant: string;
  approxBytes: number;
  paramsB: number;
  note: string;
  /** The name to pass to `infernet model pull`. */
  pull: string;
}

/** The curated list (sizes approximate). */
export const CATALOG: readonly CatalogModel[] = [
  {
    repo: "bartowski/Llama-3.2-1B-Instruct-GGUF",
    paramsB: 1.2,
    stem: "Llama-3.2-1B-Instruct",
    quantsGb: { Q8_0: 1.32, Q6_K: 1.02, Q4_K_M: 0.81 },
    note: "Meta Llama 3.2 1B: tiny, for CPU nodes and tests",
  },
  {
    repo: "bartowski/Llama-3.2-3B-Instruct-GGUF",
    paramsB: 3.2,
    stem: "Llama-3.2-3B-Instruct",
    quantsGb: { Q8_0: 3.42, Q6_K: 2.64, Q4_K_M: 2.02 },
    note: "Meta Llama 3.2 3B: small and quick",
  },
  {
    repo: "bartowski/Qwen2.5-7B-Instruct-GGUF",
    paramsB: 7.6,
    stem: "Qwen2.5-7B-Instruct",
    quantsGb: { Q8_0: 8.1, Q6_K: 6.25, Q5_K_M: 5.44, Q4_K_M: 4.68 },
    note: "Qwen 2.5 7B: strong multilingual and coding for its size",
  },
  {
    repo: "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF",
    paramsB: 8,
    stem: "Meta-Llama-3.1-8B-Instruct",
    quantsGb: { Q8_0: 8.54, Q6_K: 6.6, Q5_K_M: 5.73, Q4_K_M: 4.92 },
    note: "Meta Llama 3.1 8B: the most requested general model",
  },
  {
    repo: "bartowski/gemma-2-9b-it-GGUF",
    paramsB: 9.2,
    stem: "gemma-2-9b-it",
    quantsGb: { Q8_0: 9.83, Q6_K: 7.59, Q5_K_M: 6.65, Q4_K_M: 5.76 },
    note: "Google Gemma 2 9B",
  },
  {
    repo: "bartowski/Mistral-Nemo-Instruct-2407-GGUF",
    paramsB: 12.2,
    stem: "Mistral-Nemo-Instruct-2407",
    quantsGb: { Q8_0: 13.02, Q6_K: 10.06, Q5_K_M: 8.73, Q4_K_M: 7.48 },
    note: "Mistral Nemo 12B, 128k context",
  },
  {
    repo: "bartowski/Qwen2.5-14B-Instruct-GGUF",
    paramsB: 14.8,
    stem: "Qwen2.5-14B-Instruct",
    quantsGb: { Q8_0: 15.7, Q6_K: 12.12, Q5_K_M: 10.51, Q4_K_M: 8.99 },
    note: "Qwen 2.5 14B",
  },
  {
    repo: "bartowski/Qwen2.5-32B-Instruct-GGUF",
    paramsB: 32.8,
    stem: "Qwen2.5-32B-Instruct",
    quantsGb: { Q8_0: 34.82, Q6_K: 26.89, Q5_K_M: 23.26, Q4_K_M: 19.85 },
    note: "Qwen 2.5 32B: best quality under 24 GB at Q4",
  },
  {
    repo: "bartowski/Llama-3.3-70B-Instruct-GGUF",
    paramsB: 70.6,
    stem: "Llama-3.3-70B-Instruct",
    quantsGb: { Q4_K_M: 42.52, Q3_K_M: 34.27, IQ2_M: 24.12 },
    note: "Meta Llama 3.3 70B: for 48 GB and up",
  },
];

function variantsOf(model: CatalogModel): GgufVariant[] {
  return Object.entries(model.quantsGb).map(([quant, gb]) => {
    const file = `${model.stem}-${quant}.gguf`;
    const size = Math.round(gb * 1e9);
    return { quant, name: file, files: [{ path: file, size, sha256: null }], totalBytes: size };
  });
}

/** The catalog models that fit the node, each at its best fitting quant, largest model first. */
export function recommendModels(
  memory: NodeMemory,
  catalog: readonly CatalogModel[] = CATALOG,
): Recommendation[] {
  const out: Recommendation[] = [];
  for (const model of catalog) {
    const { variant } = pickVariant(variantsOf(model), memory);
    if (!variant?.quant) continue;
    out.push({
      repo: model.repo,
      file: variant.name,
      quant: variant.quant,
      approxBytes: variant.totalBytes,
      paramsB: model.paramsB,
      note: model.note,
      pull: `hf:${model.repo}:${variant.name}`,
    });
  }
  return out.sort((a, b) => b.paramsB - a.paramsB);
}
