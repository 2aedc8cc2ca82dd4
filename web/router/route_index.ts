// The router's per-model orders (node_source.ts), kept between requests. A model's orders are
// rebuilt at once when its nodes or their records change (a node joins, leaves or re-registers),
// since a stale entry could send a job to a node that dropped the model; after new reputations,
// at most once per `reorderAfterMs` (5 s), since the reputation computation may update nodes one
// by one and a rebuild costs about a millisecond. Until then only the walk's order is stale: whether
// a node may serve (suspicion, min_reputation) and the final ranking read each node's live values.
import type { NodeRegistry } from "../registry/node_registry.ts";
import { buildNodeSource, type NodeSource } from "./node_source.ts";

/** Options of {@link RouteIndex}. */
export interface RouteIndexOptions {
  /** The longest a model's orders lag its nodes' reputations (default 5,000 ms). */
  reorderAfterMs?: number;
  /** The clock, ms; tests pass their own. */
  now?: () => number;
}

type Registry = Pick<NodeRegistry, "serving" | "servingVersion" | "reputationVersion">;

interface Entry {
  version: number;
  reputationVersion: number;
  builtAt: number;
  source: NodeSource;
}

/** A NodeSource per model served, over one registry. */
export class RouteIndex {
  #registry: Registry;
  #reorderAfterMs: number;
  #now: () => number;
  #cache = new Map<string, Entry>();

  constructor(registry: Registry, opts: RouteIndexOptions = {}) {
    this.#registry = registry;
    this.#reorderAfterMs = opts.reorderAfterMs ?? 5_000;
    this.#now = opts.now ?? Date.now;
  }

  /** The nodes serving `model`, as the router walks them. */
  source(model: string): NodeSource {
    const version = this.#registry.servingVersion(model);
    const reputationVersion = this.#registry.reputationVersion(model);
    const hit = this.#cache.get(model);
    if (
      hit && hit.version === version &&
      (hit.reputationVersion === reputationVersion || this.#now() - hit.builtAt < this.#reorderAfterMs)
    ) return hit.source;
    const nodes = this.#registry.serving(model);
    const source = buildNodeSource(nodes, model);
    // Only models some node serves are kept: a consumer's made-up names must not fill the cache.
    if (nodes.length > 0) {
      this.#cache.set(model, { version, reputationVersion, builtAt: this.#now(), source });
    } else this.#cache.delete(model);
    return source;
  }
}
