// The nodes serving one model, in the orders the router walks them: by each ranking's first key
// (reputation bucket, price, latency, throughput), by context window, and the low-data ones. A
// walk in key order may stop once the best are found, so a route decision reads a few dozen
// nodes, not every node of the model. Views are built on first use and kept by the source; a
// source is rebuilt when the registry says the model's nodes or reputations changed.
import type { NodeModel, ProviderSort } from "../../shared/mod.ts";
import { type LiveNode, LOW_DATA_SAMPLES } from "../registry/node_registry.ts";
import { npubOf } from "./node_refs.ts";

/** Nodes with their entry for the model, in some order (parallel arrays). */
export interface NodeList {
  nodes: readonly LiveNode[];
  models: readonly NodeModel[];
}

/** A NodeList in ascending order of `keys`, the first key of one ranking. */
export interface RankedView extends NodeList {
  keys: Float64Array;
}

/** What the router reads about the nodes serving a model, whether live or not. */
export interface NodeSource {
  /** In the order of {@link walkKey} for this ranking; ties keep the registry's order. */
  view(sort: ProviderSort | null): RankedView;
  /** The nodes whose pubkey (hex) or node id is `key`. */
  named(key: string): NodeList;
  /** Largest context window first (an unadvertised window counts as unlimited). */
  byContext(): NodeList;
  /** The nodes with fewer than LOW_DATA_SAMPLES receipts behind their reputation. */
  lowData(): NodeList;
}

/** The default ranking's first key: the reputation bucket of 5 %, best (0) to worst (20). */
export function reputationBucket(node: LiveNode): number {
  return 20 - Math.round(Math.min(1, Math.max(0, node.reputation.score)) * 20);
}

/** The first key of `provider.sort` (lower is better; an unknown measurement is Infinity, so last). */
export function sortKey(node: LiveNode, model: NodeModel, sort: ProviderSort): number {
  const rep = node.reputation;
  if (sort === "price") return model.promptPricePer1k + model.completionPricePer1k;
  if (sort === "throughput") return rep.tokensPerSecond === null ? Infinity : -rep.tokensPerSecond;
  return rep.ttftMs === null ? Infinity : rep.ttftMs;
}

// TTFT, ms, fits in 20 bits beside the bucket (longer waits all rank alike).
const TTFT_CAP_MS = 2 ** 20 - 1;

/** A node's TTFT for ranking: its EWMA, capped; an untried node counts as fastest, to prove itself. */
export function rankedTtft(node: LiveNode): number {
  return Math.min(TTFT_CAP_MS, Math.floor(node.stats.ttftEwmaMs ?? 0));
}

// Walk keys are whole numbers under 2^36, so a view sorts as packed floats (key · 2^17 + index)
// with no comparator: five to ten times faster than a comparator sort, and views are rebuilt
// whenever a model's reputations change. Rounding only makes ties, never reorders: the walk reads
// every tie before it stops, and the final ranking uses the exact keys.
const KEY_CAP = 2 ** 36 - 1;
const INDEX_BITS = 2 ** 17;

function whole(x: number): number {
  return Math.max(0, Math.min(KEY_CAP - 1, Math.floor(x)));
}

/**
 * The order a walk reads nodes in (lower first): the ranking's first key, rounded down, and for
 * the default ranking the TTFT as it was when the view was built (a walk may stop inside a
 * bucket; the nodes it took are then ranked on live TTFT and load).
 */
export function walkKey(node: LiveNode, model: NodeModel, sort: ProviderSort | null): number {
  const rep = node.reputation;
  if (sort === null) return reputationBucket(node) * (TTFT_CAP_MS + 1) + rankedTtft(node);
  if (sort === "price") return whole(model.promptPricePer1k + model.completionPricePer1k);
  if (sort === "latency") return rep.ttftMs === null ? KEY_CAP : whole(rep.ttftMs);
  return rep.tokensPerSecond === null ? KEY_CAP : KEY_CAP - 1 - whole(rep.tokensPerSecond * 1000);
}

function ordered(list: NodeList, key: (i: number) => number): RankedView {
  const n = list.nodes.length;
  const order = new Array<number>(n);
  const keys = new Float64Array(n);
  if (n <= INDEX_BITS) {
    const packed = new Float64Array(n);
    for (let i = 0; i < n; i++) packed[i] = key(i) * INDEX_BITS + i;
    packed.sort();
    for (let j = 0; j < n; j++) {
      order[j] = packed[j] % INDEX_BITS;
      keys[j] = (packed[j] - order[j]) / INDEX_BITS;
    }
  } else {
    const raw = Array.from({ length: n }, (_, i) => key(i));
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => raw[a] - raw[b] || a - b);
    order.forEach((i, j) => (keys[j] = raw[i]));
  }
  return { nodes: order.map((i) => list.nodes[i]), models: order.map((i) => list.models[i]), keys };
}

/** A NodeSource over `nodes` (any order; those not serving `model` are left out). */
export function buildNodeSource(nodes: Iterable<LiveNode>, model: string): NodeSource {
  const all: NodeList = { nodes: [], models: [] };
  for (const node of nodes) {
    const m = node.record.models.find((x) => x.id === model);
    if (m === undefined) continue;
    (all.nodes as LiveNode[]).push(node);
    (all.models as NodeModel[]).push(m);
  }
  const views = new Map<ProviderSort | "default", RankedView>();
  let byContext: NodeList | null = null;
  let lowData: NodeList | null = null;
  let names: Map<string, number[]> | null = null;
  return {
    view(sort) {
      let v = views.get(sort ?? "default");
      if (v === undefined) {
        v = ordered(all, (i) => walkKey(all.nodes[i], all.models[i], sort));
        views.set(sort ?? "default", v);
      }
      return v;
    },
    named(key) {
      if (names === null) {
        const map = new Map<string, number[]>();
        const add = (k: string, i: number) => {
          const list = map.get(k);
          if (list === undefined) map.set(k, [i]);
          else if (list[list.length - 1] !== i) list.push(i);
        };
        all.nodes.forEach((n, i) => {
          add(n.record.pubkey, i);
          add(n.record.nodeId, i);
          const npub = npubOf(n);
          if (npub !== "") add(npub, i);
        });
        names = map;
      }
      const at = names.get(key) ?? [];
      return { nodes: at.map((i) => all.nodes[i]), models: at.map((i) => all.models[i]) };
    },
    byContext() {
      // Widest first; a window not advertised takes any prompt, so it comes before all.
      byContext ??= ordered(all, (i) => KEY_CAP - whole(all.models[i].contextLength ?? KEY_CAP));
      return byContext;
    },
    lowData() {
      if (lowData === null) {
        const list = { nodes: [] as LiveNode[], models: [] as NodeModel[] };
        all.nodes.forEach((n, i) => {
          if (n.reputation.samples < LOW_DATA_SAMPLES) {
            list.nodes.push(n);
            list.models.push(all.models[i]);
          }
        });
        lowData = list;
      }
      return lowData;
    },
  };
}
