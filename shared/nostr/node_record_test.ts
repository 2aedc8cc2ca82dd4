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
