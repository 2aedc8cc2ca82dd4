// The router: which nodes may take a job, best first. Pure, so every rule is testable alone; the
// caller passes the nodes serving the model (the registry's index), not every node.
import { type NodeModel, parseOperatorKey, type ProviderPrefs, tierAtLeast } from "../../shared/mod.ts";
import type { LiveNode } from "../registry/node_registry.ts";
import { type Candidate, explore, rankCandidates } from "./rank_nodes.ts";

/** The share of jobs whose first place goes to a low-data node, unless configured otherwise. */
export const DEFAULT_EXPLORATION_SHARE = 0.05;
/** Nodes this suspicious or more get no consumer jobs, unless configured otherwise. */
export const DEFAULT_SUSPICION_THRESHOLD = 0.9;

/** What the router needs to know about the request. */
export interface RouteRequest {
  model: string;
  provider: ProviderPrefs;
  nowMs: number;
  /** A node whose last heartbeat is older than this is skipped. */
  staleMs: number;
  /** The request's optional parameters (`requestParameters`), for `provider.require_parameters`. */
  parameters?: readonly string[];
  /** Let suspected nodes take the job: canaries must reach them; consumer jobs never do. */
  includeSuspected?: boolean;
  /** The chance that a low-data node is put first (default {@link DEFAULT_EXPLORATION_SHARE}). */
  explorationShare?: number;
  /** Suspicion at or over this excludes a node (default {@link DEFAULT_SUSPICION_THRESHOLD}). */
  suspicionThreshold?: number;
  /** Math.random's shape; tests pass a seeded one. */
  random?: () => number;
}

/** Why no node was selected, so the API can answer 404 or 503 correctly. */
export type RouteResult =
  | { ok: true; nodes: LiveNode[] }
  | { ok: false; reason: "unknown_model" | "over_max_price" | "no_capacity" };

/** A node's per-1k prices for a model (nano-USD), or null when it does not serve it. */
export function modelPrices(
  node: LiveNode,
  model: string,
): { promptPer1k: bigint; completionPer1k: bigint } | null {
  const m = node.record.models.find((x) => x.id === model);
  return m
    ? { promptPer1k: BigInt(m.promptPricePer1k), completionPer1k: BigInt(m.completionPricePer1k) }
    : null;
}

function withinMaxPrice(m: NodeModel, max: ProviderPrefs["maxPrice"]): boolean {
  return (max.promptPer1k === null || BigInt(m.promptPricePer1k) <= max.promptPer1k) &&
    (max.completionPer1k === null || BigInt(m.completionPricePer1k) <= max.completionPer1k);
}

/** Node refs (hex pubkey, npub, or node id) → the strings a node may match: npubs decoded once. */
function refKeys(refs: readonly string[]): Map<string, number> {
  const keys = new Map<string, number>();
  refs.forEach((ref, i) => {
    if (!keys.has(ref)) keys.set(ref, i);
    const hex = ref.startsWith("npub1") ? parseOperatorKey(ref) : null;
    if (hex !== null && !keys.has(hex)) keys.set(hex, i);
  });
  return keys;
}

/** The position of the first ref naming this node, or -1. */
function refIndex(node: LiveNode, keys: Map<string, number>): number {
  const a = keys.get(node.record.pubkey) ?? -1;
  const b = keys.get(node.record.nodeId) ?? -1;
  return a === -1 ? b : b === -1 ? a : Math.min(a, b);
}

function declaresAll(m: NodeModel, parameters: readonly string[]): boolean {
  const supported = m.supportedParameters;
  return supported !== undefined && parameters.every((p) => supported.includes(p));
}

/** Picks the nodes that may serve a request, ordered best first. */
export function selectNodes(nodes: Iterable<LiveNode>, req: RouteRequest): RouteResult {
  const serving: Candidate[] = [];
  for (const node of nodes) {
    if (!node.connection?.open) continue;
    if (req.nowMs - node.lastHeartbeatAt > req.staleMs) continue;
    const model = node.record.models.find((m) => m.id === req.model);
    if (model) serving.push({ node, model });
  }
  if (serving.length === 0) return { ok: false, reason: "unknown_model" };
  const p = req.provider;
  const priced = p.maxPrice.promptPer1k !== null || p.maxPrice.completionPer1k !== null;
  const affordable = priced ? serving.filter((c) => withinMaxPrice(c.model, p.maxPrice)) : serving;
  if (affordable.length === 0) return { ok: false, reason: "over_max_price" };
  const only = p.only.length > 0 ? refKeys(p.only) : null;
  const ignore = p.ignore.length > 0 ? refKeys(p.ignore) : null;
  const threshold = req.includeSuspected ? Infinity : req.suspicionThreshold ?? DEFAULT_SUSPICION_THRESHOLD;
  const parameters = req.parameters ?? [];
  const eligible = affordable.filter(({ node: n, model: m }) =>
    (n.connection?.inFlight ?? 0) < n.record.maxConcurrency &&
    n.reputation.suspicion < threshold &&
    (p.minReputation === null || n.reputation.score >= p.minReputation) &&
    (!p.minVramTier || tierAtLeast(n.record.vramTier, p.minVramTier)) &&
    (p.quantizations.length === 0 || p.quantizations.includes(m.quantization ?? "unknown")) &&
    (!p.requireParameters || declaresAll(m, parameters)) &&
    (only === null || refIndex(n, only) !== -1) &&
    (ignore === null || refIndex(n, ignore) === -1)
  );
  // Suspected nodes fall out here, so "all suspected" reads as "no capacity" and names no node.
  if (eligible.length === 0) return { ok: false, reason: "no_capacity" };
  let ranked = rankCandidates(eligible, p.sort);
  if (p.sort === null) {
    ranked = explore(ranked, req.explorationShare ?? DEFAULT_EXPLORATION_SHARE, req.random ?? Math.random);
  }
  if (p.order.length === 0) return { ok: true, nodes: ranked };
  const order = refKeys(p.order);
  const rank = (n: LiveNode) => {
    const i = refIndex(n, order);
    return i === -1 ? p.order.length : i;
  };
  const ranks = new Map(ranked.map((n) => [n, rank(n)]));
  ranked.sort((a, b) => ranks.get(a)! - ranks.get(b)!);
  if (p.allowFallbacks) return { ok: true, nodes: ranked };
  const listed = ranked.filter((n) => ranks.get(n)! < p.order.length);
  return listed.length ? { ok: true, nodes: listed } : { ok: false, reason: "no_capacity" };
}
