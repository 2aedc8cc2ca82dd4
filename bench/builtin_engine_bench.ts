// Tokens per second of the built-in engine on the generated tiny model: one streamed request at a
// time, decoding `maxTokens` tokens each. Standalone, it prints one JSON line:
//   deno run --allow-read --allow-write --allow-env --allow-ffi --allow-sys cli/engines/builtin/bench.ts
import { LlamaEngine } from "../cli/engines/builtin/llama_engine.ts";
import { writeTinyGguf } from "../cli/engines/builtin/tiny_gguf.ts";

/** What the bench measured. */
export interface BuiltinBenchResult {
  bench: "builtin_engine_tiny";
  tokensPerSecond: number;
  runs: number;
  tokensPerRun: number;
  /** Time to the first token (prompt evaluation included), median over the runs. */
  firstTokenMs: number;
  loadMs: number;
}

/** Loads the tiny model and measures decoding speed; `runs` timed requests after one warm-up. */
export async function benchBuiltinEngine(
  opts: { runs?: number; maxTokens?: number } = {},
): Promise<BuiltinBenchResult> {
  const runs = opts.runs ?? 5;
  const maxTokens = opts.maxTokens ?? 256;
  const dir = await Deno.makeTempDir();
  try {
    const started = performance.now();
    const engine = await LlamaEngine.load({ modelPath: await writeTinyGguf(`${dir}/tiny.gguf`) });
    const loadMs = performance.now() - started;
    try {
      const one = async () => {
        const t0 = performance.now();
        let first = 0;
        const g = await engine.chat([{ role: "user", content: "Say something." }], {
          maxTokens,
          temperature: 0.8,
          topP: null,
          seed: 1,
          stop: [],
          signal: new AbortController().signal,
          onText: () => first ||= performance.now() - t0,
        });
        return { ms: performance.now() - t0, firstMs: first, tokens: g.completionTokens };
      };
      await one();
      const timed = [];
      for (let i = 0; i < runs; i++) timed.push(await one());
      const tokens = timed.reduce((n, r) => n + r.tokens, 0);
      const ms = timed.reduce((n, r) => n + r.ms, 0);
      const firsts = timed.map((r) => r.firstMs).sort((a, b) => a - b);
      return {
        bench: "builtin_engine_tiny",
        tokensPerSecond: Math.round(tokens / (ms / 1000)),
        runs,
        tokensPerRun: maxTokens,
        firstTokenMs: Math.round(firsts[Math.floor(runs / 2)] * 10) / 10,
        loadMs: Math.round(loadMs),
      };
    } finally {
      await engine.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) console.log(JSON.stringify(await benchBuiltinEngine()));
