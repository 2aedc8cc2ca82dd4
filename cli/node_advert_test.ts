import assert from "node:assert/strict";
import { buildAdvert } from "./node_advert.ts";
import type { HardwareInfo } from "./hardware/detect.ts";
import type { NodeIdentity } from "./identity/node_key.ts";

const identity = { secretKey: new Uint8Array(32), pubkey: "ab".repeat(32), npub: "npub1x" } as NodeIdentity;
const hw: HardwareInfo = {
  gpus: [],
  totalVramMb: 0,
  vramTier: "nano",
  cpuCores: 2,
  cpuModel: null,
  ramMb: 1024,
  os: "linux",
  driverVersion: null,
  cudaVersion: null,
};

Deno.test("node advert - a model's quantization, when the engine says it, is declared; else left out", () => {
  const advert = buildAdvert(identity, hw, {
    kind: "ollama",
    baseUrl: "http://127.0.0.1:11434",
    models: [{ id: "a", contextLength: null, quantization: "int4" }, { id: "b", contextLength: 4096 }],
  }, { server: null, nodeId: null, engineUrl: null, maxConcurrency: 1 });
  assert.equal(advert.models[0].quantization, "int4");
  assert.equal("quantization" in advert.models[1], false);
  assert.equal(advert.models[1].contextLength, 4096);
});
