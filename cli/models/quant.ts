// GGUF quantisations: read the quant from a file name, group split files into one variant, and
// pick the best variant that fits the node's memory. Everything here is pure.
//
// The rule (documented for operators in `infernet model pull`):
// - Budget. A GPU node may fill min(90 % of its total VRAM, total − 1 GiB): the rest is headroom
//   for the KV cache (context) and the engine's own buffers. A node without a GPU runs on the CPU
//   from RAM, and may fill min(75 % of RAM, RAM − 2 GiB), leaving room for the OS and the daemon.
// - Pick. Among the variants whose total size (all split parts) fits the budget, the one of the
//   highest quality (QUANT_QUALITY below: Q8_0 first, then Q6_K, Q5_K_M, … down to IQ1_S), ties
//   going to the smaller file. Q8_0 ranks above F16/BF16/F32: it is near-lossless at half the
//   size and twice the speed, so unquantised files are only picked when a repo has nothing else.
// - Files whose quant is not recognised, vision projectors (`mmproj*`) and imatrix files are
//   never picked automatically; name them explicitly (`hf:org/repo:file`) to pull them.

/** One file of a hub repository as the listing gives it. */
export interface RepoFile {
  path: string;
  size: number;
  /** The LFS sha256 (hex), or null when the hub gives none (small non-LFS files). */
  sha256: string | null;
}

/** One downloadable model: a GGUF file, or all parts of a split GGUF. */
export interface GgufVariant {
  /** The quant in canonical upper case (Q4_K_M), or null when the name carries none we know. */
  quant: string | null;
  /** The file, or the first part of a split file, as the name to show. */
  name: string;
  files: RepoFile[];
  totalBytes: number;
}

/** What the node offers to hold a model: total VRAM (0 for CPU nodes) and RAM, in MB. */
export interface NodeMemory {
  vramMb: number;
  ramMb: number;
}

/** The memory a model may fill on this node, and where that memory is. */
export interface MemoryBudget {
  bytes: number;
  kind: "vram" | "ram";
}

/** The outcome of a pick: the variant, or null with the budget it had to fit. */
export interface QuantPick {
  variant: GgufVariant | null;
  budget: MemoryBudget;
  /** Every candidate that would fit, best first. */
  fitting: GgufVariant[];
}

const MIB = 1024 * 1024;

/** Relative quality of each known quant (higher is better); see the rule at the top of the file. */
export const QUANT_QUALITY: Readonly<Record<string, number>> = {
  Q8_0: 100,
  F16: 99,
  BF16: 98,
  F32: 97,
  Q6_K_XL: 91,
  Q6_K_L: 91,
  Q6_K: 90,
  Q5_K_XL: 86,
  Q5_K_L: 86,
  Q5_K_M: 85,
  Q5_K_S: 84,
  Q5_1: 83,
  Q5_0: 82,
  Q4_K_XL: 76,
  Q4_K_L: 76,
  Q4_K_M: 75,
  Q4_K_S: 74,
  IQ4_NL: 73,
  IQ4_XS: 72,
  Q4_1: 71,
  Q4_0: 70,
  MXFP4: 70,
  Q3_K_XL: 66,
  Q3_K_L: 65,
  IQ3_M: 64,
  Q3_K_M: 63,
  IQ3_S: 62,
  Q3_K_S: 61,
  IQ3_XS: 60,
  IQ3_XXS: 59,
  Q2_K_XL: 56,
  Q2_K_L: 55,
  Q2_K: 54,
  IQ2_M: 53,
  Q2_K_S: 52,
  IQ2_S: 51,
  IQ2_XS: 50,
  IQ2_XXS: 49,
  IQ1_M: 41,
  IQ1_S: 40,
};

// Longest names first so "Q4_K_M" wins over "Q4_K" and "IQ3_XXS" over "IQ3_XS".
const QUANT_NAMES = [...Object.keys(QUANT_QUALITY), "FP16", "FP32"].sort((a, b) => b.length - a.length);
const QUANT_RE = new RegExp(`(?:^|[-_./])(${QUANT_NAMES.join("|")})(?=$|[-_./])`, "i");
const SPLIT_RE = /-(\d{5})-of-(\d{5})\.gguf$/i;

/** The quant a GGUF file name carries (`Llama-3-8B.Q4_K_M.gguf` → "Q4_K_M"), or null. */
export function parseQuant(path: string): string | null {
  const stem = path.replace(SPLIT_RE, ".gguf").replace(/\.gguf$/i, "");
  // The last match wins: "Q8_0/Model-Q8_0-00001-of-00002" and "org-f16-model-Q4_K_M" alike.
  let found: string | null = null;
  for (let rest = stem; rest.length > 0;) {
    const m = QUANT_RE.exec(rest);
    if (!m) break;
    found = m[1].toUpperCase();
    rest = rest.slice(m.index + m[0].length);
  }
  if (found === "FP16") return "F16";
  if (found === "FP32") return "F32";
  return found;
}

function isModelGguf(path: string): boolean {
  const base = path.split("/").pop()!.toLowerCase();
  return base.endsWith(".gguf") && !base.startsWith("mmproj") && !base.includes("imatrix");
}

/** Groups a repo's GGUF files into variants (split parts together, in order); other files are left out. */
export function groupGgufVariants(files: readonly RepoFile[]): GgufVariant[] {
  const groups = new Map<string, RepoFile[]>();
  for (const file of files) {
    if (!file.path.toLowerCase().endsWith(".gguf")) continue;
    const key = file.path.replace(SPLIT_RE, ".gguf");
    groups.set(key, [...(groups.get(key) ?? []), file]);
  }
  return [...groups.entries()].map(([key, parts]) => {
    const sorted = [...parts].sort((a, b) => a.path.localeCompare(b.path));
    return {
      quant: isModelGguf(key) ? parseQuant(key) : null,
      name: sorted[0].path,
      files: sorted,
      totalBytes: sorted.reduce((sum, f) => sum + f.size, 0),
    };
  });
}

/** The memory a model may fill: VRAM on a GPU node, RAM otherwise (rule at the top of the file). */
export function memoryBudget(memory: NodeMemory): MemoryBudget {
  if (memory.vramMb > 0) {
    const mb = Math.min(memory.vramMb * 0.9, memory.vramMb - 1024);
    return { bytes: Math.max(0, Math.floor(mb * MIB)), kind: "vram" };
  }
  const mb = Math.min(memory.ramMb * 0.75, memory.ramMb - 2048);
  return { bytes: Math.max(0, Math.floor(mb * MIB)), kind: "ram" };
}

/** Quality of a variant; unknown quants rank below every known one. */
export function quantQuality(quant: string | null): number {
  return quant === null ? -1 : QUANT_QUALITY[quant] ?? -1;
}

/** Picks the highest-quality known-quant variant that fits the node's memory budget. */
export function pickVariant(variants: readonly GgufVariant[], memory: NodeMemory): QuantPick {
  const budget = memoryBudget(memory);
  const fitting = variants
    .filter((v) => quantQuality(v.quant) >= 0 && v.totalBytes <= budget.bytes)
    .sort((a, b) => quantQuality(b.quant) - quantQuality(a.quant) || a.totalBytes - b.totalBytes);
  return { variant: fitting[0] ?? null, budget, fitting };
}

/** Formats a byte count for people: 1536 → "1.5 KB", 4.92e9 → "4.92 GB" (decimal units, as the hub shows). */
export function formatBytes(bytes: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  if (unit === 0) return `${bytes} B`;
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${
    units[unit]
  }`;
}
