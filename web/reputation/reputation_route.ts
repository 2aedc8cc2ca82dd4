// GET /api/reputation/<npub|hex>: a node's reputation under formula 1, computed fresh at
// `computed_at` (unix seconds) with the server's half-life, so a reader holding the node's public
// receipts and verifications can recompute the very same score (`infernet reputation`). Public:
// the events it is made of are public too. Any key has one (a key never seen gets the prior).
import { npubEncode } from "nostr-tools/nip19";
import type { AppContext } from "../app_env.ts";
import { componentsToWire, parseOperatorKey } from "../../shared/mod.ts";
import type { ControlPlane } from "../control_plane.ts";
import { HttpError } from "../http_error.ts";

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
    const time = cp.reputation.timeNow();
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
