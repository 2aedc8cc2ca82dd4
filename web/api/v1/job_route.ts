// Stage 1 of a `/v1` job: the nodes that may serve it, or the 404 that says why none can.
import type { ProviderPrefs } from "../../../shared/mod.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { HttpError } from "../../http_error.ts";
import type { LiveNode, NodeRegistry } from "../../registry/node_registry.ts";
import { RouteIndex } from "../../router/route_index.ts";
import { selectNodes } from "../../router/select_nodes.ts";

// One index per registry (a control plane has one), kept beside it rather than inside it.
const indexes = new WeakMap<NodeRegistry, RouteIndex>();

function routeIndex(registry: NodeRegistry): RouteIndex {
  let index = indexes.get(registry);
  if (!index) indexes.set(registry, index = new RouteIndex(registry));
  return index;
}

/** What a route decision may add to the model and the consumer's provider preferences. */
export interface RouteJobOptions {
  /** The request's optional parameters (`requestParameters`), read when `provider.require_parameters`. */
  parameters?: readonly string[];
  /** Canary jobs: suspected nodes may take them too. */
  includeSuspected?: boolean;
}

/**
 * The candidate nodes for `model`, best first; empty when all are busy, suspected or left out by
 * the consumer's preferences (dispatch answers that with a 503). An unknown model, or none within
 * the consumer's max_price, is a 404.
 */
export function routeJob(
  cp: ControlPlane,
  model: string,
  provider: ProviderPrefs,
  opts: RouteJobOptions = {},
): LiveNode[] {
  // Only the nodes that list the model, in the orders the router walks: not a scan of every node.
  const route = selectNodes(routeIndex(cp.registry).source(model), {
    model,
    provider,
    nowMs: Date.now(),
    staleMs: cp.config.nodeStaleMs,
    parameters: opts.parameters,
    includeSuspected: opts.includeSuspected,
    explorationShare: cp.config.explorationShare,
    suspicionThreshold: cp.config.suspicionThreshold,
  });
  if (route.ok) return route.nodes;
  if (route.reason === "unknown_model") {
    throw new HttpError(
      404,
      `The model '${model}' does not exist or no node serves it right now. GET /v1/models lists the models being served.`,
      { code: "model_not_found", param: "model" },
    );
  }
  if (route.reason === "over_max_price") {
    throw new HttpError(
      404,
      `No node serves '${model}' within your provider.max_price; GET /v1/models lists the lowest prices.`,
      { code: "no_node_within_max_price", param: "provider.max_price" },
    );
  }
  return [];
}
