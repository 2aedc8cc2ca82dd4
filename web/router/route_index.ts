// The router's per-model orders (node_source.ts), kept between requests: rebuilt for a model only
// when the registry's version for it moved (a node joined, left, re-registered or got a new
// reputation). Heartbeats, sockets, load and TTFT are read live at each decision.
import type { NodeRegistry } from "../registry/node_registry.ts";
import { buildNodeSource, type NodeSource } from "./node_source.ts";

/** A NodeSource per model served, over one registry. */
export class RouteIndex {
  #registry: Pick<NodeRegistry, "serving" | "servingVersion">;
  #cache = new Map<string, { version: number; source: NodeSource }>();

  constructor(registry: Pick<NodeRegistry, "serving" | "servingVersion">) {
    this.#registry = registry;
  }

  /** The nodes serving `model`, as the router walks them. */
  source(model: string): NodeSource {
    const version = this.#registry.servingVersion(model);
    const hit = this.#cache.get(model);
    if (hit && hit.version === version) return hit.source;
    const nodes = this.#registry.serving(model);
    const source = buildNodeSource(nodes, model);
    // Only models some node serves are kept: a consumer's made-up names must not fill the cache.
    if (nodes.length > 0) this.#cache.set(model, { version, source });
    else this.#cache.delete(model);
    return source;
  }
}
