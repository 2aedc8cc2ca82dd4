// The honest side of verification on a real engine: two nodes serving the built-in engine
// (llama.cpp on a generated tiny model, whose greedy text is noise) pass 200 canaries. The tiny
// model cannot repeat a sentence, so rule-checked canaries give no verdict on it (no node in
// good standing showed the model can); its answers are still cross-checked, checked for
// consistency and metered.
import assert from "node:assert/strict";
import { LlamaEngine } from "../cli/engines/builtin/llama_engine.ts";
import { builtinEngineHandler } from "../cli/engines/builtin/server.ts";
import { writeTinyGguf } from "../cli/engines/builtin/tiny_gguf.ts";
import { withCanaryNet } from "../testing/canary_net.ts";

Deno.test("verification - honest built-in engine nodes are never flagged over 200 canaries", async () => {
  const dir = await Deno.makeTempDir({ prefix: "infernet-canary-builtin-" });
  const engine = await LlamaEngine.load({ modelPath: await writeTinyGguf(`${dir}/tiny.gguf`), parallel: 2 });
  try {
    await withCanaryNet(async (net) => {
      const handler = builtinEngineHandler(engine);
      const model = { id: "tiny", contextLength: 4096, promptPricePer1k: 1000, completionPricePer1k: 1000 };
      const nodes = [
        await net.engineNode(handler, { models: [model], engine: { kind: "builtin", testEngine: false } }),
        await net.engineNode(handler, { models: [model], engine: { kind: "builtin", testEngine: false } }),
      ];
      const outcomes = await net.canaries.runCanaries(200);
      assert.equal(outcomes.length, 200);
      assert.ok(
        outcomes.every((o) => o.status === 200),
        JSON.stringify(outcomes.find((o) => o.status !== 200)),
      );
      const verdicts = outcomes.flatMap((o) => o.verdicts);
      assert.deepEqual(verdicts.filter((v) => !v.pass), []);
      assert.ok(verdicts.some((v) => v.check === "cross_check"));
      assert.ok(verdicts.filter((v) => v.check === "metering").length === 200);
      for (const n of nodes) assert.ok(net.suspicion(n.pubkey) < 0.01);
    });
  } finally {
    await engine.close();
    await Deno.remove(dir, { recursive: true });
  }
});
