// GET /api/nodes/:pubkey: what the network knows of a node (public: records are public anyway).
import type { AppContext } from "../../app_env.ts";
import { decode } from "nostr-tools/nip19";
import type { ControlPlane } from "../../control_plane.ts";
import { HttpError } from "../../http_error.ts";

function toHex(ref: string): string | null {
  if (/^[0-9a-f]{64}$/.test(ref)) return ref;
  try {
    const d = decode(ref);
    return d.type === "npub" ? d.data : null;
  } catch {
    return null;
  }
}

/** The handler for a node's public status. */
export function nodeStatus(cp: ControlPlane) {
  return (c: AppContext): Response => {
    const pubkey = toHex(c.req.param("pubkey") ?? "");
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
