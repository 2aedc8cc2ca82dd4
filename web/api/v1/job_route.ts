// Stage 1 of a `/v1` job: the nodes that may serve it, or the 404 that says why none can.
import type { ProviderPrefs } from "../../../shared/mod.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { HttpError } from "../../http_error.ts";
import type { LiveNode } from "../../registry/node_registry.ts";
import { selectNodes } from "../../router/select_nodes.ts";

/**
 * The candidate nodes for `model`, best first; empty when all are busy (dispatch answers that).
 * An unknown model, or none within the consumer's max_price, is a 404. `includeSuspected` is for
 * the platform's canaries only (set from the caller's key, never from the request).
 */
export function routeJob(
  cp: ControlPlane,
  model: string,
  provider: ProviderPrefs,
  opts: { includeSuspected?: boolean } = {},
): LiveNode[] {
  const route = selectNodes(cp.registry.all(), {
    model,
    provider,
    nowMs: Date.now(),
    staleMs: cp.config.nodeStaleMs,
    // The router's suspicion threshold (issue 27) skips suspected nodes unless this is set.
    ...(opts.includeSuspected ? { includeSuspected: true } : {}),
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
