// The router: which nodes may take a job, best first. Pure, so every rule is testable alone. It
// walks the nodes serving the model in the order of the ranking's first key (node_source.ts) and
// stops once the best are found, so a decision over 100,000 nodes reads only a few dozen.
import { type NodeModel, type ProviderPrefs, tierAtLeast } from "../../shared/mod.ts";
import type { LiveNode } from "../registry/node_registry.ts";
import { buildNodeSource, type NodeList, type NodeSource } from "./node_source.ts";
import { lookUp, type Named } from "./node_refs.ts";
import { rankCandidates, TOP_RANKED } from "./rank_nodes.ts";

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

function declaresAll(m: NodeModel, parameters: readonly string[]): boolean {
  const supported = m.supportedParameters;
  return supported !== undefined && parameters.every((p) => supported.includes(p));
}

// How far a node gets: not live, live (serves the model), affordable, or eligible for this job.
const NOT_LIVE = 0, LIVE = 1, AFFORDABLE = 2, ELIGIBLE = 3;
type Standing = typeof NOT_LIVE | typeof LIVE | typeof AFFORDABLE | typeof ELIGIBLE;

/** The request's rules, prepared once (refs decoded, defaults applied). */
interface Rules {
  /** Whether the node may take this job; the cheapest tests first (most nodes fail one). */
  eligible(n: LiveNode, m: NodeModel): boolean;
  /** How far the node gets, for the reason none may take the job. */
  standing(n: LiveNode, m: NodeModel): Standing;
}

function rulesFor(req: RouteRequest, only: Named | null, ignore: Named | null): Rules {
  const p = req.provider;
  const max = p.maxPrice;
  const priced = max.promptPer1k !== null || max.completionPer1k !== null;
  const threshold = req.includeSuspected ? Infinity : req.suspicionThreshold ?? DEFAULT_SUSPICION_THRESHOLD;
  const parameters = req.parameters ?? [];
  const live = (n: LiveNode) => n.connection?.open === true && req.nowMs - n.lastHeartbeatAt <= req.staleMs;
  const affordable = (m: NodeModel) =>
    !priced || ((max.promptPer1k === null || BigInt(m.promptPricePer1k) <= max.promptPer1k) &&
      (max.completionPer1k === null || BigInt(m.completionPricePer1k) <= max.completionPer1k));
  const chosen = (n: LiveNode, m: NodeModel) =>
    (p.quantizations.length === 0 || p.quantizations.includes(m.quantization ?? "unknown")) &&
    (!p.requireParameters || declaresAll(m, parameters)) &&
    n.reputation.suspicion < threshold &&
    (p.minReputation === null || n.reputation.score >= p.minReputation) &&
    (only === null || only.rank.has(n)) &&
    (ignore === null || !ignore.rank.has(n)) &&
    (!p.minVramTier || tierAtLeast(n.record.vramTier, p.minVramTier)) &&
    (n.connection?.inFlight ?? 0) < n.record.maxConcurrency &&
    // A node whose last heartbeat lists its models takes jobs for those only (a draining one lists none).
    (n.heartbeat === null || n.heartbeat.models.includes(req.model));
  return {
    eligible: (n, m) => chosen(n, m) && affordable(m) && live(n),
    standing: (n, m) => !live(n) ? NOT_LIVE : !affordable(m) ? LIVE : chosen(n, m) ? ELIGIBLE : AFFORDABLE,
  };
}

/**
 * Picks the nodes that may serve a request, best first (rank_nodes.ts), with the nodes named in
 * `provider.order` ahead of all, in its order. `nodes` is either any nodes (those not serving the
 * model are skipped) or a NodeSource, which the router's index keeps per model (route_index.ts).
 */
export function selectNodes(nodes: Iterable<LiveNode> | NodeSource, req: RouteRequest): RouteResult {
  const source = "view" in nodes ? nodes : buildNodeSource(nodes, req.model);
  const p = req.provider;
  const only = p.only.length > 0 ? lookUp(source, p.only) : null;
  const order = p.order.length > 0 ? lookUp(source, p.order) : null;
  const rules = rulesFor(req, only, p.ignore.length > 0 ? lookUp(source, p.ignore) : null);
  const found: LiveNode[] = [];
  const models: NodeModel[] = [];
  const taken = new Set<LiveNode>();
  let best: Standing = NOT_LIVE;
  const consider = (n: LiveNode, m: NodeModel, s: Standing) => {
    if (s > best) best = s;
    if (s !== ELIGIBLE || taken.has(n)) return;
    taken.add(n);
    found.push(n);
    models.push(m);
  };
  // `only` and `order` name nodes wherever they rank: they are looked up, not walked to.
  const named = only ?? order;
  named?.nodes.forEach((n, i) => consider(n, named.models[i], rules.standing(n, named.models[i])));
  const view = source.view(p.sort);
  if (p.only.length > 0) {
    // None of the named may serve: a walk says why (the model unknown, too dear, or all busy).
    for (let i = 0; i < view.nodes.length && best < AFFORDABLE && found.length === 0; i++) {
      consider(view.nodes[i], view.models[i], rules.standing(view.nodes[i], view.models[i]));
    }
  } else {
    // The best of the rest, in walk order, until TOP_RANKED are found and the next key is past theirs.
    const walked: number[] = [];
    for (let i = 0; i < view.nodes.length; i++) {
      if (walked.length >= TOP_RANKED && view.keys[i] > walked[TOP_RANKED - 1]) break;
      const n = view.nodes[i], m = view.models[i];
      // Until some node is affordable, the full standing is needed for the reason; then only whether.
      const s = best >= AFFORDABLE ? (rules.eligible(n, m) ? ELIGIBLE : AFFORDABLE) : rules.standing(n, m);
      if (s === ELIGIBLE) walked.push(view.keys[i]);
      consider(n, m, s);
    }
  }
  if (best === NOT_LIVE) return { ok: false, reason: "unknown_model" };
  if (best === LIVE) return { ok: false, reason: "over_max_price" };
  // Suspected nodes fall out above, so "all suspected" reads as "no capacity" and names no node.
  if (found.length === 0) return { ok: false, reason: "no_capacity" };
  const ranked = rankCandidates(found, models, p.sort);
  if (p.only.length === 0) addLargestWindow(ranked, source.byContext(), rules);
  if (p.sort === null) {
    explore(ranked, source.lowData(), rules, req.explorationShare ?? DEFAULT_EXPLORATION_SHARE, req.random);
  }
  if (order === null) return { ok: true, nodes: ranked };
  return putOrderFirst(ranked, order.rank, p.allowFallbacks);
}

// A walk that stopped early may have left out the nodes with the largest context windows, and a
// long prompt is refused when no candidate's window takes it: the eligible node with the largest
// window joins the candidates, last.
function addLargestWindow(ranked: LiveNode[], byContext: NodeList, rules: Rules): void {
  for (let i = 0; i < byContext.nodes.length; i++) {
    const node = byContext.nodes[i];
    if (!rules.eligible(node, byContext.models[i])) continue;
    if (!ranked.includes(node)) ranked.push(node);
    return;
  }
}

/**
 * With probability `share`, puts one eligible low-data node, chosen uniformly, first. The list is
 * read in a random order (Fisher–Yates, drawn as it goes) until an eligible node turns up: the
 * first eligible node of a uniform random order is a uniform choice among them, found after about
 * (list length / eligible count) reads instead of the whole list.
 */
function explore(
  ranked: LiveNode[],
  lowData: NodeList,
  rules: Rules,
  share: number,
  random: () => number = Math.random,
): void {
  const n = lowData.nodes.length;
  if (share <= 0 || n === 0 || random() >= share) return;
  const order = Array.from({ length: n }, (_, i) => i);
  for (let k = 0; k < n; k++) {
    const j = k + Math.min(n - k - 1, Math.floor(random() * (n - k)));
    const i = order[j];
    order[j] = order[k];
    order[k] = i;
    if (!rules.eligible(lowData.nodes[i], lowData.models[i])) continue;
    const pick = lowData.nodes[i];
    const at = ranked.indexOf(pick);
    if (at !== -1) ranked.splice(at, 1);
    ranked.unshift(pick);
    return;
  }
}

// The nodes `order` names come first, in its order (ties keep the ranking); the others follow
// unless fallbacks are off.
function putOrderFirst(
  ranked: LiveNode[],
  order: ReadonlyMap<LiveNode, number>,
  allowFallbacks: boolean,
): RouteResult {
  const listed: { node: LiveNode; rank: number }[] = [];
  const others: LiveNode[] = [];
  for (const node of ranked) {
    const rank = order.get(node);
    if (rank === undefined) others.push(node);
    else listed.push({ node, rank });
  }
  listed.sort((a, b) => a.rank - b.rank);
  const nodes = listed.map((x) => x.node);
  if (allowFallbacks) { for (const node of others) nodes.push(node); }
  return nodes.length ? { ok: true, nodes } : { ok: false, reason: "no_capacity" };
}
