import assert from "node:assert/strict";
import { parseRepoListing } from "./hub.ts";
import { formatBytes, groupGgufVariants, memoryBudget, parseQuant, pickVariant } from "./quant.ts";

const MIB = 1024 * 1024;

async function listing(file: string, repo: string) {
  const body = JSON.parse(await Deno.readTextFile(new URL(`./testdata/${file}`, import.meta.url)));
  return parseRepoListing(repo, body);
}

Deno.test("quant - reads the quant from the file names the hubs use", () => {
  const cases: [string, string | null][] = [
    ["Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "Q4_K_M"],
    ["qwen2.5-72b-instruct-q4_k_m-00001-of-00012.gguf", "Q4_K_M"],
    ["llama-2-7b.Q5_K_S.gguf", "Q5_K_S"],
    ["Qwen3-30B-A3B-UD-Q4_K_XL.gguf", "Q4_K_XL"],
    ["gemma-2-9b-it-IQ3_XXS.gguf", "IQ3_XXS"],
    ["gemma-2-9b-it-IQ3_XS.gguf", "IQ3_XS"],
    ["Q8_0/Llama-3.3-70B-Instruct-Q8_0-00001-of-00002.gguf", "Q8_0"],
    ["model-fp16.gguf", "F16"],
    ["model-bf16.gguf", "BF16"],
    ["Meta-Llama-3.1-8B-Instruct-f32.gguf", "F32"],
    ["model.gguf", null],
    ["Q4_K_Mistral.gguf", null],
  ];
  for (const [name, quant] of cases) assert.equal(parseQuant(name), quant, name);
});

Deno.test("quant - groups split files into one variant and leaves out projectors and non-GGUF files", () => {
  const variants = groupGgufVariants([
    { path: "m-Q8_0-00002-of-00002.gguf", size: 5, sha256: null },
    { path: "m-Q8_0-00001-of-00002.gguf", size: 7, sha256: null },
    { path: "m-Q4_K_M.gguf", size: 6, sha256: null },
    { path: "mmproj-m-F16.gguf", size: 1, sha256: null },
    { path: "README.md", size: 1, sha256: null },
  ]);
  const q8 = variants.find((v) => v.quant === "Q8_0")!;
  assert.deepEqual(q8.files.map((f) => f.path), ["m-Q8_0-00001-of-00002.gguf", "m-Q8_0-00002-of-00002.gguf"]);
  assert.equal(q8.totalBytes, 12);
  assert.equal(q8.name, "m-Q8_0-00001-of-00002.gguf");
  assert.equal(variants.find((v) => v.name.startsWith("mmproj"))?.quant, null, "never picked");
  assert.equal(variants.length, 3);
});

Deno.test("quant - the budget is 90 % of VRAM less 1 GiB headroom, or 75 % of RAM less 2 GiB on CPU nodes", () => {
  assert.deepEqual(memoryBudget({ vramMb: 24576, ramMb: 65536 }), {
    bytes: Math.floor(24576 * 0.9 * MIB),
    kind: "vram",
  });
  assert.deepEqual(memoryBudget({ vramMb: 8192, ramMb: 32768 }), { bytes: 7168 * MIB, kind: "vram" });
  assert.deepEqual(memoryBudget({ vramMb: 0, ramMb: 16384 }), { bytes: 12288 * MIB, kind: "ram" });
  assert.deepEqual(memoryBudget({ vramMb: 0, ramMb: 4096 }), { bytes: 2048 * MIB, kind: "ram" });
  assert.equal(memoryBudget({ vramMb: 0, ramMb: 1024 }).bytes, 0);
});

Deno.test("quant - picks the best quant that fits on a recorded single-file repo listing", async () => {
  const { files } = await listing("llama31_8b_siblings.json", "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF");
  const variants = groupGgufVariants(files);
  assert.ok(variants.every((v) => v.files[0].sha256?.length === 64));
  const pick = (vramMb: number, ramMb = 65536) =>
    pickVariant(variants, { vramMb, ramMb }).variant?.quant ?? null;
  assert.equal(pick(24564), "Q8_0", "RTX 4090: Q8_0, never the 32 GB f32");
  assert.equal(pick(8192), "Q6_K_L", "8 GB: the Q6 with Q8 embeddings fits");
  assert.equal(pick(6144), "Q4_K_L", "6 GB: no Q5 fits within 5 GiB");
  assert.equal(pick(4096), "Q2_K", "4 GB: Q2_K ranks above IQ2_M");
  assert.equal(pick(2048), null, "2 GB: nothing fits");
  assert.equal(pick(0, 16384), "Q8_0", "CPU node with 16 GB RAM");
  assert.equal(pick(0, 8192), "Q5_K_L", "CPU node with 8 GB RAM");
  const none = pickVariant(variants, { vramMb: 2048, ramMb: 65536 });
  assert.equal(none.fitting.length, 0);
  assert.equal(none.budget.kind, "vram");
});

Deno.test("quant - picks whole split variants on a recorded tree listing with lower-case names", async () => {
  const { files } = await listing("qwen25_72b_tree.json", "Qwen/Qwen2.5-72B-Instruct-GGUF");
  const variants = groupGgufVariants(files);
  assert.deepEqual(
    variants.map((v) => v.quant).sort(),
    ["F16", "Q2_K", "Q3_K_M", "Q4_0", "Q4_K_M", "Q5_0", "Q5_K_M", "Q6_K", "Q8_0"],
  );
  const h100 = pickVariant(variants, { vramMb: 81559, ramMb: 0 }).variant!;
  assert.equal(h100.quant, "Q6_K", "one H100: Q8_0 (77.3 GB) is over the 77.0 GB budget");
  assert.equal(h100.files.length, 16);
  assert.equal(h100.totalBytes, 64_350_000_000);
  assert.equal(pickVariant(variants, { vramMb: 163118, ramMb: 0 }).variant?.quant, "Q8_0", "Q8_0 over F16");
  assert.equal(pickVariant(variants, { vramMb: 49152, ramMb: 0 }).variant?.quant, "Q4_0");
});

Deno.test("quant - formats sizes in decimal units as the hub shows them", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(4_920_734_272), "4.92 GB");
  assert.equal(formatBytes(64_350_000_000), "64.3 GB");
  assert.equal(formatBytes(145_500_000_000), "146 GB");
});
