import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { createNodeRecord, type NodeAdvert, verifyNodeRecord } from "./node_record.ts";
import { sampleAdvert } from "../../testing/node_advert.ts";

const advert = sampleAdvert({
  nodeId: "rig-1",
  name: "rig-1",
  engine: { kind: "ollama", testEngine: false },
  gpus: [{ name: "NVIDIA GeForce RTX 4090", vramMb: 24564, vendor: "nvidia" }],
  totalVramMb: 24564,
  vramTier: "large",
  cpuCores: 16,
  ramMb: 64000,
  maxConcurrency: 4,
  models: [{
    id: "qwen2.5:7b",
    contextLength: 32768,
    promptPricePer1k: 100_000,
    completionPricePer1k: 300_000,
  }],
});

Deno.test("node record - round-trips through signing and verification", () => {
  const sk = generateSecretKey();
  const r = verifyNodeRecord(JSON.parse(JSON.stringify(createNodeRecord(sk, advert))));
  assert.equal(r.ok, true);
  if (!r.ok) return;
  assert.equal(r.record.pubkey, getPublicKey(sk));
  assert.deepEqual(r.record.models, advert.models);
  assert.equal(r.record.vramTier, "large");
  assert.equal(r.record.nodeId, "rig-1");
});

Deno.test("node record - rejects edited content, bad fields and foreign kinds", () => {
  const sk = generateSecretKey();
  const event = createNodeRecord(sk, advert);
  const edited = { ...event, content: event.content.replace("100000", "1") };
  assert.match((verifyNodeRecord(edited) as { reason: string }).reason, /signature/);
  const badTier = createNodeRecord(sk, { ...advert, vramTier: "huge" as NodeAdvert["vramTier"] });
  assert.match((verifyNodeRecord(badTier) as { reason: string }).reason, /vram_tier/);
  const badPrice = createNodeRecord(sk, {
    ...advert,
    models: [{ ...advert.models[0], promptPricePer1k: -1 }],
  });
  assert.match((verifyNodeRecord(badPrice) as { reason: string }).reason, /prompt_per_1k/);
  assert.equal(verifyNodeRecord({ ...event, kind: 1 }).ok, false);
  assert.equal(verifyNodeRecord("nope").ok, false);
});

/** Why `over` is refused, or "ok" when it verifies. */
function verdict(over: Partial<NodeAdvert>): string {
  const r = verifyNodeRecord(createNodeRecord(generateSecretKey(), { ...advert, ...over }));
  return r.ok ? "ok" : r.reason;
}

Deno.test("node record - refuses a VRAM tier above what the declared VRAM supports", () => {
  // The self-declared "large" with no VRAM and no GPU.
  assert.match(
    verdict({ gpus: [], totalVramMb: 0, vramTier: "large" }),
    /hardware\.vram_tier "large" needs hardware\.total_vram_mb of at least 16384 \(declared 0, tier "nano"\)/,
  );
  // On the boundary: 16,384 MB is large, one less is medium.
  assert.equal(verdict({ gpus: [], totalVramMb: 16_384, vramTier: "large" }), "ok");
  assert.match(verdict({ gpus: [], totalVramMb: 16_383, vramTier: "large" }), /hardware\.vram_tier/);
  assert.equal(verdict({ gpus: [], totalVramMb: 16_383, vramTier: "medium" }), "ok");
  // Declaring less than the hardware supports is allowed; a CPU-only node is nano.
  assert.equal(verdict({ vramTier: "nano" }), "ok");
  assert.equal(verdict({ gpus: [], totalVramMb: 0, vramTier: "nano" }), "ok");
  assert.match(verdict({ gpus: [], totalVramMb: 0, vramTier: "small" }), /hardware\.vram_tier "small"/);
});

Deno.test("node record - refuses a total VRAM above the sum of the listed GPUs'", () => {
  const gpus = [
    { name: "NVIDIA GeForce RTX 4090", vramMb: 24_564, vendor: "nvidia" },
    { name: "NVIDIA GeForce RTX 4090", vramMb: 24_564, vendor: "nvidia" },
  ];
  assert.equal(verdict({ gpus, totalVramMb: 49_128, vramTier: "x1" }), "ok");
  assert.equal(verdict({ gpus, totalVramMb: 40_000, vramTier: "x1" }), "ok", "less than the sum is allowed");
  assert.match(
    verdict({ gpus, totalVramMb: 49_129, vramTier: "x1" }),
    /hardware\.total_vram_mb \(49129\) is more than the sum of hardware\.gpus\[\]\.vram_mb \(49128\)/,
  );
  // Inflating the total to reach a tier is caught by the sum.
  assert.match(verdict({ gpus: [gpus[0]], totalVramMb: 81_920, vramTier: "xx1" }), /total_vram_mb/);
});

Deno.test("node record - engine.kind is any string of 1 to 32 characters", () => {
  for (
    const kind of [
      "ollama",
      "vllm",
      "sglang",
      "llamacpp",
      "openai",
      "builtin",
      "test",
      "my-engine",
      "k".repeat(32),
    ]
  ) {
    assert.equal(verdict({ engine: { kind, testEngine: false } }), "ok", kind);
  }
  for (const kind of ["", "k".repeat(33)]) {
    assert.match(
      verdict({ engine: { kind, testEngine: false } }),
      /engine\.kind must be a string of 1-32 characters/,
    );
  }
});
