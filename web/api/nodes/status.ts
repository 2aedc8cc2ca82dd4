// GET /api/nodes/<pubkey>: what the network knows of a node (public: records are public anyway). The
// key is hex or an npub, one path segment; the route is `/api/nodes/*` (see web/app.ts).
import type { AppContext } from "../../app_env.ts";
import { decode } from "nostr-tools/nip19";
import type { ControlPlane } from "../../control_plane.ts";
import { HttpError } from "../../http_error.ts";

/** A node key as hex, from hex or an npub; null when it is neither. */
export function toHex(ref: string): string | null {
  if (/^[0-9a-f]{64}$/.test(ref)) return ref;
  try {
    const d = decode(ref);
    return d.type === "npub" ? d.data : null;
  } catch {
    return null;
  }
}

const PREFIX = "/api/nodes/";

/** The handler for a node's public status, under `/api/nodes/*`: a path of more than one segment
 * there is unknown, as it would be under `/api/nodes/:pubkey`. */
export function nodeStatus(cp: ControlPlane) {
  return (c: AppContext): Response | Promise<Response> => {
    const ref = c.req.path.startsWith(PREFIX) ? c.req.path.slice(PREFIX.length) : "";
    if (ref === "" || ref.includes("/")) return c.notFound();
    const pubkey = toHex(ref);
    const node = pubkey ? cp.registry.get(pubkey) : undefined;
    if (!node) {
      throw new HttpError(404, "no node is registered under this key", { code: "node_not_registered" });
    }
    const r = node.record;
    const now = Date.now();
    return c.json({
      pubkey: r.pubkey,
      node_id: r.nodeId,
      name: r.name,
      version: r.version,
      engine: r.engine.kind,
      test_engine: r.engine.testEngine,
      vram_tier: r.vramTier,
      models: r.models.map((m) => m.id),
      connected: node.connection?.open ?? false,
      last_heartbeat_at: node.lastHeartbeatAt ? new Date(node.lastHeartbeatAt).toISOString() : null,
      live: (node.connection?.open ?? false) && now - node.lastHeartbeatAt <= cp.config.nodeStaleMs,
      in_flight: node.connection?.inFlight ?? 0,
      jobs_succeeded: node.stats.successes,
      jobs_failed: node.stats.failures,
    });
  };
}
