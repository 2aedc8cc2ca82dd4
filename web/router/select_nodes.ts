// The router: which nodes may take a job, best first. Pure, so every rule is testable alone.
import { type ProviderPrefs, tierAtLeast } from "../../shared/mod.ts";
import type { LiveNode } from "../registry/node_registry.ts";
import { npubEncode } from "nostr-tools/nip19";

/** What the router needs to know about the request. */
export interface RouteRequest {
  model: string;
  provider: ProviderPrefs;
  nowMs: number;
  /** A node whose last heartbeat is older than this is skipped. */
  staleMs: number;
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

function withinMaxPrice(node: LiveNode, req: RouteRequest): boolean {
  const max = req.provider.maxPrice;
  if (max.promptPer1k === null && max.completionPer1k === null) return true;
  const p = modelPrices(node, req.model)!;
  return (max.promptPer1k === null || p.promptPer1k <= max.promptPer1k) &&
    (max.completionPer1k === null || p.completionPer1k <= max.completionPer1k);
}

/** Whether `ref` names this node (hex pubkey, npub, or node id). */
function matches(node: LiveNode, ref: string): boolean {
  const r = node.record;
  return ref === r.pubkey || ref === r.nodeId || ref === npubEncode(r.pubkey);
}

/** Success rate with a prior of one success and one failure, so new nodes get a fair start. */
export function successRate(node: LiveNode): number {
  const { successes, failures } = node.stats;
  return (successes + 1) / (successes + failures + 2);
}

function compareNodes(a: LiveNode, b: LiveNode): number {
  // Rate buckets of 5 %: small differences should not outweigh a much faster node.
  const rate = Math.round(successRate(b) * 20) - Math.round(successRate(a) * 20);
  if (rate !== 0) return rate;
  // Untried nodes rank as fast as the fastest known node, so they get traffic to prove themselves.
  const la = a.stats.ttftEwmaMs ?? 0;
  const lb = b.stats.ttftEwmaMs ?? 0;
  if (Math.abs(la - lb) >= 1) return la - lb;
  const loadA = (a.connection?.inFlight ?? 0) / a.record.maxConcurrency;
  const loadB = (b.connection?.inFlight ?? 0) / b.record.maxConcurrency;
  return loadA - loadB;
}

/** Picks the nodes that may serve a request, ordered best first. */
export function selectNodes(nodes: Iterable<LiveNode>, req: RouteRequest): RouteResult {
  const serving: LiveNode[] = [];
  for (const node of nodes) {
    if (!node.connection?.open) continue;
    if (req.nowMs - node.lastHeartbeatAt > req.staleMs) continue;
    if (!node.record.models.some((m) => m.id === req.model)) continue;
    serving.push(node);
  }
  if (serving.length === 0) return { ok: false, reason: "unknown_model" };
  const affordable = serving.filter((n) => withinMaxPrice(n, req));
  if (affordable.length === 0) return { ok: false, reason: "over_max_price" };
  const { only, ignore, order, allowFallbacks } = req.provider;
  const eligible = affordable.filter((n) =>
    (n.connection?.inFlight ?? 0) < n.record.maxConcurrency &&
    // A node whose last heartbeat lists its models takes jobs for those only (a draining one lists none).
    (n.heartbeat === null || n.heartbeat.models.includes(req.model)) &&
    (!req.provider.minVramTier || tierAtLeast(n.record.vramTier, req.provider.minVramTier)) &&
    (only.length === 0 || only.some((ref) => matches(n, ref))) &&
    !ignore.some((ref) => matches(n, ref))
  );
  eligible.sort(compareNodes);
  if (order.length > 0) {
    const rank = (n: LiveNode) => {
      const i = order.findIndex((ref) => matches(n, ref));
      return i === -1 ? order.length : i;
    };
    eligible.sort((a, b) => rank(a) - rank(b));
    if (!allowFallbacks) {
      const listed = eligible.filter((n) => rank(n) < order.length);
      return listed.length ? { ok: true, nodes: listed } : { ok: false, reason: "no_capacity" };
    }
  }
  return eligible.length ? { ok: true, nodes: eligible } : { ok: false, reason: "no_capacity" };
}
