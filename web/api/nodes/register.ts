// POST /api/nodes/register: the body is the node record, a signed Nostr event (kind 30078), sent
// with NIP-98 by the same key. A record older than the one stored is refused (replaceable event).
import type { AppContext } from "../../app_env.ts";
import { npubEncode } from "nostr-tools/nip19";
import { nowSeconds, priceOutOfBounds, verifyNodeRecord } from "../../../shared/mod.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { HttpError } from "../../http_error.ts";
import { verifiedJson } from "./nip98_auth.ts";

/** The handler for node registration. */
export function registerNode(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> => {
    const result = verifyNodeRecord(verifiedJson(c));
    if (!result.ok) throw new HttpError(400, result.reason, { code: "node_record_invalid" });
    const record = result.record;
    if (record.pubkey !== c.get("nodePubkey")) {
      throw new HttpError(401, "the node record is signed by a different key than the request", {
        code: "nip98_invalid",
      });
    }
    if (record.createdAt > nowSeconds() + 60) {
      throw new HttpError(400, "the node record's created_at is in the future", {
        code: "node_record_invalid",
      });
    }
    for (const m of record.models) {
      const why = priceOutOfBounds(record.vramTier, m.promptPricePer1k, `${m.id}: prompt price`) ??
        priceOutOfBounds(record.vramTier, m.completionPricePer1k, `${m.id}: completion price`);
      if (why) throw new HttpError(400, why, { code: "price_out_of_bounds" });
    }
    const existing = cp.registry.get(record.pubkey);
    if (existing && existing.record.createdAt > record.createdAt) {
      throw new HttpError(409, "a newer node record is already registered for this key", {
        code: "node_record_outdated",
      });
    }
    const status = await cp.registry.register(record);
    cp.log.info("node registered", { pubkey: record.pubkey, status, models: record.models.length });
    return c.json({
      ok: true,
      status,
      node: {
        pubkey: record.pubkey,
        npub: npubEncode(record.pubkey),
        node_id: record.nodeId,
        vram_tier: record.vramTier,
        models: record.models.map((m) => m.id),
      },
      heartbeat_interval_ms: 30_000,
      socket_path: "/api/nodes/ws",
    }, status === "created" ? 201 : 200);
  };
}
