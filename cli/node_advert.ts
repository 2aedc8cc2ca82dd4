// What the node tells the network about itself, from its hardware, engine and config.
import { DEFAULT_PRICES, type NodeAdvert } from "../shared/mod.ts";
import type { HardwareInfo } from "./hardware/detect.ts";
import type { DetectedEngine } from "./engines/detect.ts";
import type { ModelPrice, NodeConfig, NodePrices } from "./config.ts";
import type { NodeIdentity } from "./identity/node_key.ts";
import { CLI_VERSION } from "./version.ts";

/** Where a model's price comes from: its override, the node's default, or the built-in default. */
export type PriceSource = "model" | "default" | "built-in";

/** The price the node asks for a model: its override, else the configured default, else DEFAULT_PRICES. */
export function modelPrice(
  prices: NodePrices | undefined,
  modelId: string,
): ModelPrice & { source: PriceSource } {
  if (prices && Object.hasOwn(prices.models, modelId)) return { ...prices.models[modelId], source: "model" };
  if (prices?.default) return { ...prices.default, source: "default" };
  return { ...DEFAULT_PRICES, source: "built-in" };
}

/** Builds the node's advertisement. */
export function buildAdvert(
  identity: NodeIdentity,
  hw: HardwareInfo,
  engine: DetectedEngine,
  cfg: NodeConfig,
): NodeAdvert {
  const nodeId = cfg.nodeId ?? `node-${identity.pubkey.slice(0, 8)}`;
  return {
    nodeId,
    name: nodeId,
    version: CLI_VERSION,
    engine: { kind: engine.kind, testEngine: engine.kind === "test" },
    // Gateway mode: jobs arrive over the node's outbound socket, so no inbound address is needed.
    endpoint: null,
    gpus: hw.gpus.map((g) => ({ name: g.name, vramMb: g.vramMb, vendor: g.vendor })),
    totalVramMb: hw.totalVramMb,
    vramTier: hw.vramTier,
    cpuCores: hw.cpuCores,
    ramMb: hw.ramMb,
    os: hw.os,
    maxConcurrency: cfg.maxConcurrency,
    models: engine.models.map((m) => {
      const price = modelPrice(cfg.prices, m.id);
      return {
        id: m.id,
        contextLength: m.contextLength,
        promptPricePer1k: price.promptPer1k,
        completionPricePer1k: price.completionPer1k,
        ...(m.quantization ? { quantization: m.quantization } : {}),
      };
    }),
  };
}
