// Our token count (web/metering/count_tokens.ts) against gpt-tokenizer's, the baseline, in the same
// run: time per count on texts a control plane counts (a short prompt, a paragraph of mixed scripts
// and code, a long document), and what each leaves on V8's heap after a full GC (measured in fresh
// child processes, so neither sees the other's). Every count is checked equal first. Target: no
// slower than the baseline, and the vocabulary off the heap (its heap a small fraction of the
// baseline's).
import { countTokens } from "gpt-tokenizer";
import { countText } from "../web/metering/count_tokens.ts";

const reference = (text: string) => countTokens(text, { disallowedSpecial: new Set() });

function document(words: number): string {
  const vocabulary = [
    "the",
    "control",
    "plane",
    "routes",
    "jobs",
    "to",
    "nodes",
    "étoile",
    "Привет",
    "数据",
    "42,",
  ];
  let seed = 1;
  let text = "";
  for (let i = 0; i < words; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    text += vocabulary[seed % vocabulary.length] + (i % 17 === 16 ? ".\n" : " ");
  }
  return text;
}

const TEXTS = {
  "short prompt": "benchmark prompt of a few words",
  "mixed paragraph (1.4 KB)": "The quick brown fox jumps over the lazy dog. ".repeat(25) +
    "Привет мир! 日本語のテキスト 😀 function add(a, b) { return a + b; }".repeat(5),
  "document (~40 KB)": document(6000),
};

/**
 * Median µs per count of each counter, over 9 batches of ~50 ms each, the two counters' batches
 * taking turns (so a slow spell of the machine falls on both).
 */
function timePerCount(counters: ((t: string) => number)[], text: string): number[] {
  const perBatch = Math.max(1, Math.round(50_000 / Math.max(1, text.length)));
  for (const count of counters) for (let i = 0; i < perBatch * 2; i++) count(text);
  const samples = counters.map((): number[] => []);
  for (let b = 0; b < 9; b++) {
    counters.forEach((count, k) => {
      const t0 = performance.now();
      for (let i = 0; i < perBatch; i++) count(text);
      samples[k].push(((performance.now() - t0) / perBatch) * 1000);
    });
  }
  return samples.map((xs) => xs.sort((a, b) => a - b)[4]);
}

async function heapAfterLoad(module: string, fn: string): Promise<number> {
  const script = `const m = await import(${JSON.stringify(module)}); m.${fn}("warm up");
    globalThis.gc(); globalThis.gc(); console.log(Deno.memoryUsage().heapUsed);`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--v8-flags=--expose-gc", script],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`could not measure the heap with ${module}`);
  return Number(new TextDecoder().decode(out.stdout).trim());
}

let failed = false;
const rows: Record<string, { ours_us: number; baseline_us: number }> = {};
console.log("\ntoken count — ours (off-heap o200k) against gpt-tokenizer, same run (µs per count)");
console.log("                               ours   gpt-tokenizer");
for (const [name, text] of Object.entries(TEXTS)) {
  if (countText(text) !== reference(text)) {
    console.log(`${name}: counts differ (${countText(text)} against ${reference(text)})`);
    failed = true;
    continue;
  }
  const [ours, baseline] = timePerCount([countText, reference], text);
  rows[name] = { ours_us: Number(ours.toFixed(2)), baseline_us: Number(baseline.toFixed(2)) };
  console.log(`${name.padEnd(26)} ${ours.toFixed(2).padStart(9)}  ${baseline.toFixed(2).padStart(14)}`);
}
const oursHeap = await heapAfterLoad(
  new URL("../web/metering/count_tokens.ts", import.meta.url).href,
  "countText",
);
const baselineHeap = await heapAfterLoad("gpt-tokenizer", "countTokens");
const mb = (n: number) => (n / 1048576).toFixed(1);
console.log(
  `V8 heap after loading and a full GC: ours ${mb(oursHeap)} MB, gpt-tokenizer ${mb(baselineHeap)} MB`,
);
const slower = Object.entries(rows).filter(([, r]) => r.ours_us > r.baseline_us * 1.1).map(([n]) => n);
const offHeap = oursHeap * 4 < baselineHeap;
console.log(
  `target: no slower than the baseline (within 10%) ${
    slower.length === 0 ? "MET" : `MISSED (${slower.join(", ")})`
  }` +
    `; vocabulary off the heap ${offHeap ? "MET" : "MISSED"}`,
);
console.log(JSON.stringify({
  bench: "token_count",
  per_count: rows,
  heap_mb: { ours: Number(mb(oursHeap)), baseline: Number(mb(baselineHeap)) },
}));
if (failed) Deno.exit(1);
