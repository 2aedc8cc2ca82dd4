// The router's order: by reputation (5 % buckets), then time to first token, then load; or, when
// the consumer asks for `provider.sort`, by price, throughput or latency (OpenRouter's semantics: a
// sort turns load balancing off), ties broken by the default order.
//
// Only the best TOP_RANKED are sorted; the rest follow in the order given (the walk's). A job goes
// to the first node that starts it, so the tail is almost never read, and sorting every node per
// request would cost more than a whole route decision may (bench/route_bench.ts).
import type { NodeModel, ProviderSort } from "../../shared/mod.ts";
import type { LiveNode } from "../registry/node_registry.ts";
import { rankedTtft, reputationBucket, sortKey } from "./node_source.ts";

/** How many candidates are put in full order; the others keep their given order after them. */
export const TOP_RANKED = 16;

// The default key packs whole numbers into one float, so ranking compares numbers only:
// reputation bucket (0..20), TTFT in ms (capped at 2^20 - 1), load in 1/1024ths.
const TTFT_STEPS = 2 ** 20;
const LOAD_STEPS = 1024;

/** The default ranking's full key (bucket, TTFT, load): lower is better. Reads live state. */
export function defaultKey(node: LiveNode): number {
  const load = Math.min(
    LOAD_STEPS - 1,
    Math.floor(((node.connection?.inFlight ?? 0) / node.record.maxConcurrency) * LOAD_STEPS),
  );
  return (reputationBucket(node) * TTFT_STEPS + rankedTtft(node)) * LOAD_STEPS + load;
}

/**
 * Orders candidates (`nodes[i]` serving the model as `models[i]`) best first: by the ranking's
 * key (`sort`'s, else the default key), ties by the default key, then as given. Returns a new
 * array: the best TOP_RANKED ranked, then the others as given.
 */
export function rankCandidates(
  nodes: readonly LiveNode[],
  models: readonly NodeModel[],
  sort: ProviderSort | null,
): LiveNode[] {
  const n = nodes.length;
  const first = new Float64Array(n);
  const second = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    second[i] = defaultKey(nodes[i]);
    first[i] = sort === null ? second[i] : sortKey(nodes[i], models[i], sort);
  }
  const better = (a: number, b: number) =>
    first[a] < first[b] ||
    (first[a] === first[b] && (second[a] < second[b] || (second[a] === second[b] && a < b)));
  // The best TOP_RANKED by insertion into a short sorted list: one comparison for most candidates.
  const top: number[] = [];
  for (let i = 0; i < n; i++) {
    if (top.length === TOP_RANKED && !better(i, top[TOP_RANKED - 1])) continue;
    let j = top.length === TOP_RANKED ? TOP_RANKED - 1 : top.length;
    while (j > 0 && better(i, top[j - 1])) {
      top[j] = top[j - 1];
      j--;
    }
    top[j] = i;
  }
  const ranked = top.map((i) => nodes[i]);
  if (n > top.length) {
    const taken = new Uint8Array(n);
    for (const i of top) taken[i] = 1;
    for (let i = 0; i < n; i++) if (taken[i] === 0) ranked.push(nodes[i]);
  }
  return ranked;
}
