// The router's order: by reputation (5 % buckets), then time to first token, then load; or, when
// the consumer asks for `provider.sort`, by price, throughput or latency alone (OpenRouter's
// semantics: a sort turns load balancing off). A small exploration share puts a low-data node
// first, so new nodes earn the receipts their reputation is made of.
import type { NodeModel, ProviderSort } from "../../shared/mod.ts";
import { type LiveNode, LOW_DATA_SAMPLES } from "../registry/node_registry.ts";

/** A node that may take the job, with its entry for the requested model. */
export interface Candidate {
  node: LiveNode;
  model: NodeModel;
}

// Keys are whole numbers packed into one float so sorting compares numbers only:
// reputation bucket (0..20), TTFT in ms (capped), load in 1/1024ths.
const TTFT_CAP_MS = 2 ** 20 - 1;
const LOAD_STEPS = 1024;

/** The default ranking's key: lower is better. */
export function defaultKey(node: LiveNode): number {
  // Buckets of 5 %: small differences should not outweigh a much faster node.
  const bucket = 20 - Math.round(Math.min(1, Math.max(0, node.reputation.score)) * 20);
  // Untried nodes rank as fast as the fastest known node, so they get traffic to prove themselves.
  const ttft = Math.min(TTFT_CAP_MS, Math.floor(node.stats.ttftEwmaMs ?? 0));
  const load = Math.min(
    LOAD_STEPS - 1,
    Math.floor(((node.connection?.inFlight ?? 0) / node.record.maxConcurrency) * LOAD_STEPS),
  );
  return (bucket * (TTFT_CAP_MS + 1) + ttft) * LOAD_STEPS + load;
}

/** The key of `provider.sort` (lower is better; unknown measurements last). */
function sortKey(c: Candidate, sort: ProviderSort): number {
  const rep = c.node.reputation;
  if (sort === "price") return c.model.promptPricePer1k + c.model.completionPricePer1k;
  if (sort === "throughput") return rep.tokensPerSecond === null ? Infinity : -rep.tokensPerSecond;
  return rep.ttftMs === null ? Infinity : rep.ttftMs;
}

/** Orders the candidates best first (a new array); ties under `sort` fall back to the default ranking. */
export function rankCandidates(candidates: readonly Candidate[], sort: ProviderSort | null): LiveNode[] {
  const n = candidates.length;
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = defaultKey(candidates[i].node);
  const order = Array.from({ length: n }, (_, i) => i);
  if (sort === null) order.sort((a, b) => keys[a] - keys[b] || a - b);
  else {
    const first = candidates.map((c) => sortKey(c, sort));
    order.sort((a, b) => compareNumbers(first[a], first[b]) || keys[a] - keys[b] || a - b);
  }
  return order.map((i) => candidates[i].node);
}

// Infinity - Infinity is NaN: equal unknowns tie.
function compareNumbers(a: number, b: number): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

/**
 * With probability `share`, moves one low-data node (chosen uniformly) to the front; `random` is
 * Math.random's shape, passed in so tests can seed it. Returns `ranked` itself, reordered.
 */
export function explore(ranked: LiveNode[], share: number, random: () => number): LiveNode[] {
  if (share <= 0 || ranked.length < 2 || random() >= share) return ranked;
  const lowData: number[] = [];
  for (let i = 0; i < ranked.length; i++) {
    if (ranked[i].reputation.samples < LOW_DATA_SAMPLES) lowData.push(i);
  }
  if (lowData.length === 0) return ranked;
  const pick = lowData[Math.min(lowData.length - 1, Math.floor(random() * lowData.length))];
  const [node] = ranked.splice(pick, 1);
  ranked.unshift(node);
  return ranked;
}
