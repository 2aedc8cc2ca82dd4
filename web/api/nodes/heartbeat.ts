// POST /api/nodes/heartbeat (NIP-98): load, free slots and served models, every 30 s.
import type { AppContext } from "../../app_env.ts";
import { parseHeartbeat } from "../../../shared/mod.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { HttpError } from "../../http_error.ts";
import { verifiedJson } from "./nip98_auth.ts";

/** The handler for heartbeats. */
export function heartbeat(cp: ControlPlane) {
  return (c: AppContext): Response => {
    const body = parseHeartbeat(verifiedJson(c));
    if (typeof body === "string") throw new HttpError(400, body, { code: "invalid_request" });
    if (!cp.registry.heartbeat(c.get("nodePubkey"), body)) {
      throw new HttpError(404, "this node is not registered; run `infernet register` first", {
        code: "node_not_registered",
      });
    }
    return c.json({ ok: true, next_heartbeat_ms: 30_000 });
  };
}
