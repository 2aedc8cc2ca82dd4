// A route decision (web/router/select_nodes.ts) over 100,000 registered nodes with reputations,
// as routeJob makes it: the registry's per-model index and the router's per-model orders
// (web/router/route_index.ts) let it read only the best few nodes of the model. Cases with and
// without provider options; the baselines, in the same run, are the router over every node of
// the registry (what routeJob did before the index) and a 1,000-node registry. Also measured:
// decisions while reputations change, and the first decision after a model's orders went stale.
// Target (issue 27): p99 < 50 µs at 100,000 nodes.
// Run: deno run --allow-all bench/route_bench.ts [nodes] [models] [decisions per case]
import { seededRandom } from "../testing/seeded_random.ts";
import { npubEncode } from "nostr-tools/nip19";
import {
  parseProviderPrefs,
  type Quantization,
  QUANTIZATIONS,
  type VerifiedNodeRecord,
  VRAM_TIERS,
} from "../shared/mod.ts";
import type { NodeConnection } from "../web/dispatch/node_connection.ts";
import { NodeRegistry } from "../web/registry/node_registry.ts";
import { RouteIndex } from "../web/router/route_index.ts";
import { type RouteRequest, selectNodes } from "../web/router/select_nodes.ts";
import { percentile } from "./percentile.ts";

const [nodeCount, modelCount, decisions] = [
  Number(Deno.args[0] ?? 100_000),
  Number(Deno.args[1] ?? 200),
  Number(Deno.args[2] ?? 20_000),
];

// A fixed seed, so every run routes over the same network.
const random = seededRandom(27);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
const NOW = Date.now();
const PARAMETERS = ["tools", "tool_choice", "seed", "stop", "response_format", "temperature", "top_p"];

/** A registry of `count` nodes, each serving 1–3 of `models` models, with random track records. */
async function buildRegistry(
  count: number,
  models: number,
): Promise<{ registry: NodeRegistry; kv: Deno.Kv }> {
  const kv = await Deno.openKv(":memory:");
  const registry = new NodeRegistry(kv);
  for (let i = 0; i < count; i++) {
    const pubkey = i.toString(16).padStart(64, "0");
    const maxConcurrency = 1 + Math.floor(random() * 16);
    const served = new Set(
      Array.from({ length: 1 + Math.floor(random() * 3) }, () => Math.floor(random() * models)),
    );
    // Records are built unsigned: signing 100,000 would dominate the setup, and routing never re-verifies.
    const record = {
      pubkey,
      nodeId: `node-${i}`,
      maxConcurrency,
      vramTier: pick(VRAM_TIERS),
      event: { id: pubkey },
      models: [...served].map((m) => ({
        id: `model-${m}`,
        contextLength: 8192,
        promptPricePer1k: 1_000 + Math.floor(random() * 100_000),
        completionPricePer1k: 1_000 + Math.floor(random() * 300_000),
        quantization: pick(QUANTIZATIONS) as Quantization,
        ...(random() < 0.5 ? { supportedParameters: PARAMETERS.filter(() => random() < 0.8) } : {}),
      })),
    } as unknown as VerifiedNodeRecord;
    await registry.register(record, NOW);
    const connection = { open: random() < 0.95, inFlight: Math.floor(random() * maxConcurrency) };
    registry.attach(pubkey, connection as unknown as NodeConnection, NOW);
    const samples = random() < 0.1 ? random() * 20 : 20 + random() * 5_000;
    registry.setReputation(pubkey, {
      score: random(),
      reliability: 1,
      suspicion: random() < 0.02 ? 0.95 : random() * 0.3,
      samples,
      ttftMs: random() < 0.1 ? null : 50 + random() * 2_000,
      tokensPerSecond: random() < 0.1 ? null : 5 + random() * 200,
      updatedAt: NOW,
    });
    for (let j = 0; j < 5; j++) registry.recordOutcome(pubkey, random() < 0.9, 50 + random() * 2_000);
  }
  return { registry, kv };
}

const indexes = new Map<NodeRegistry, RouteIndex>();
function indexOf(registry: NodeRegistry): RouteIndex {
  if (!indexes.has(registry)) indexes.set(registry, new RouteIndex(registry));
  return indexes.get(registry)!;
}

type Case = { name: string; provider: () => unknown; parameters?: readonly string[]; scan?: boolean };

function run(registry: NodeRegistry, models: number, c: Case, count: number): number[] {
  const all = registry.all();
  const index = indexOf(registry);
  const times: number[] = [];
  let selected = 0;
  for (let i = 0; i < count; i++) {
    const model = `model-${Math.floor(random() * models)}`;
    const provider = c.provider();
    const start = performance.now();
    const req: RouteRequest = {
      model,
      provider: parseProviderPrefs(provider),
      nowMs: NOW,
      staleMs: 90_000,
      parameters: c.parameters,
    };
    const result = selectNodes(c.scan ? all : index.source(model), req);
    times.push(performance.now() - start);
    if (result.ok) selected += result.nodes.length;
  }
  if (selected === 0) throw new Error(`${c.name}: no decision selected a node`);
  return times;
}

function report(label: string, times: number[]): void {
  const sorted = times.toSorted((a, b) => a - b);
  const us = (ms: number) => `${(ms * 1000).toFixed(1).padStart(8)} µs`;
  console.log(
    `${label.padEnd(52)} p50 ${us(percentile(sorted, 50))}  p99 ${us(percentile(sorted, 99))}  max ${
      us(sorted[sorted.length - 1])
    }`,
  );
}

const setupStart = performance.now();
const big = await buildRegistry(nodeCount, modelCount);
const small = await buildRegistry(1_000, modelCount);
const perModel = big.registry.serving("model-0").length;
console.log(
  `route decisions: ${nodeCount} nodes over ${modelCount} models (~${perModel} per model), ` +
    `${decisions} decisions per case; setup ${((performance.now() - setupStart) / 1000).toFixed(1)} s`,
);

const someNodes = () => Array.from({ length: 3 }, () => Math.floor(random() * nodeCount));
const cases: Case[] = [
  { name: "default ranking (5 % exploration)", provider: () => undefined },
  { name: "sort: latency", provider: () => ({ sort: "latency" }) },
  { name: "sort: price, max_price", provider: () => ({ sort: "price", max_price: { prompt: 50 } }) },
  {
    name: "min_reputation 0.8, quantizations",
    provider: () => ({ min_reputation: 0.8, quantizations: ["int4", "fp16"] }),
  },
  {
    name: "require_parameters (tools, seed)",
    provider: () => ({ require_parameters: true }),
    parameters: ["tools", "seed"],
  },
  {
    name: "order (3 npubs), ignore (3 hex)",
    provider: () => ({
      order: someNodes().map((i) => npubEncode(i.toString(16).padStart(64, "0"))),
      ignore: someNodes().map((i) => i.toString(16).padStart(64, "0")),
    }),
  },
];

for (const c of cases) {
  run(big.registry, modelCount, c, Math.min(2_000, decisions)); // warm up
  report(`100k, index: ${c.name}`, run(big.registry, modelCount, c, decisions));
}
// Reputations changing under the router: one node's reputation changes before every decision.
// With the index's default (orders rebuilt at most once a second per model), and with a rebuild
// forced every time: the cost of the first decision after an update.
function underUpdates(index: RouteIndex, count: number): number[] {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const model = `model-${Math.floor(random() * modelCount)}`;
    const node = pick(big.registry.serving(model));
    big.registry.setReputation(node.record.pubkey, { ...node.reputation, score: random() });
    const start = performance.now();
    selectNodes(index.source(model), {
      model,
      provider: parseProviderPrefs(undefined),
      nowMs: NOW,
      staleMs: 90_000,
    });
    times.push(performance.now() - start);
  }
  return times;
}
report("100k, a reputation update before each decision", underUpdates(indexOf(big.registry), decisions));
const rebuilding = new RouteIndex(big.registry, { reorderAfterMs: 0 });
report("100k, the same, orders rebuilt each time", underUpdates(rebuilding, 500));

const baseline = cases[0];
run(small.registry, modelCount, baseline, Math.min(2_000, decisions));
report(`baseline 1k, index: ${baseline.name}`, run(small.registry, modelCount, baseline, decisions));
const scan = { ...baseline, scan: true };
run(big.registry, modelCount, scan, 50);
report(`baseline 100k, scan of all nodes: ${baseline.name}`, run(big.registry, modelCount, scan, 500));
big.kv.close();
small.kv.close();
