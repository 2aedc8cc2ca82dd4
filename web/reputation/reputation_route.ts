// GET /api/reputation/<npub|hex>: a node's reputation under formula 1, computed fresh at
// `computed_at` (unix seconds, a minute ago) with the server's half-life, so a reader holding the node's public
// receipts and verifications can recompute the very same score (`infernet reputation`). Public:
// the events it is made of are public too. Any key has one (a key never seen gets the prior).
import { npubEncode } from "nostr-tools/nip19";
import type { AppContext } from "../app_env.ts";
import { componentsToWire, parseOperatorKey } from "../../shared/mod.ts";
import type { ControlPlane } from "../control_plane.ts";
import { HttpError } from "../http_error.ts";

/**
 * How far behind now the published score is computed: by then every receipt and verification
 * stamped at or before `computed_at` has been written, so a reader listing them later finds exactly
 * the events the score counted (formula 1 counts only those created at or before T).
 */
export const SETTLED_AFTER_S = 60;

/** The handler for `GET /api/reputation/:key`. */
export function getReputation(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> => {
    const pubkey = parseOperatorKey(c.req.param("key") ?? "");
    if (!pubkey) {
      throw new HttpError(400, "the key must be an npub or 64 hex characters", {
        code: "invalid_request",
        param: "key",
      });
    }
    const now = cp.reputation.timeNow();
    const time = { ...now, at: now.at - SETTLED_AFTER_S };
    const r = await cp.reputation.compute(pubkey, time);
    return c.json({
      pubkey,
      npub: npubEncode(pubkey),
      formula: r.formula,
      score: r.score,
      suspicion: r.suspicion,
      reliability: r.reliability,
      samples: r.samples,
      components: componentsToWire(r.components),
      computed_at: time.at,
      half_life_s: time.halfLifeS,
    });
  };
}
