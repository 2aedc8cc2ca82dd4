// A node advertisement for tests: a small CPU node with the test engine's model.
import type { NodeAdvert } from "../shared/nostr/node_record.ts";

/** A valid advert, with any fields replaced. */
export function sampleAdvert(overrides: Partial<NodeAdvert> = {}): NodeAdvert {
  return {
    nodeId: "n1",
    name: "n1",
    version: "0.1.0",
    engine: { kind: "test", testEngine: true },
    endpoint: null,
    gpus: [],
    totalVramMb: 0,
    vramTier: "nano",
    cpuCores: 2,
    ramMb: 1024,
    os: "linux",
    maxConcurrency: 2,
    models: [{ id: "m", contextLength: 4096, promptPricePer1k: 1000, completionPricePer1k: 1000 }],
    ...overrides,
  };
}
