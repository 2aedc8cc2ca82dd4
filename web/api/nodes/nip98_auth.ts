// NIP-98 on node mutations: the signature must cover this exact URL, method and body, be fresh
// (±60 s) and unseen; otherwise 401 with the reason, and nothing changes.
import type { AppContext, AppMiddleware } from "../../app_env.ts";
import { NIP98_TOLERANCE_SEC, verifyNip98 } from "../../../shared/mod.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { HttpError } from "../../http_error.ts";
import { readBodyBytes } from "../../http_body.ts";

/** The largest body a node may send (a node record with hundreds of models fits easily). */
const MAX_BODY_BYTES = 256 * 1024;

/** The URL a node must sign: the public URL when configured (behind a proxy), else the request's. */
export function signedUrl(cp: ControlPlane, req: Request): string {
  if (!cp.config.publicUrl) return req.url;
  const u = new URL(req.url);
  return cp.config.publicUrl + u.pathname + u.search;
}

/** Middleware: verifies NIP-98, rejects replays, and exposes `nodePubkey` and `rawBody`. */
export function nip98Auth(cp: ControlPlane): AppMiddleware {
  return async (c: AppContext, next) => {
    // Bounded before it is read whole: a node record is never near the limit.
    const raw = await readBodyBytes(
      c.req.raw,
      MAX_BODY_BYTES,
      () => new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`, { code: "invalid_request" }),
    );
    const result = verifyNip98(c.req.header("authorization"), {
      url: signedUrl(cp, c.req.raw),
      method: c.req.method,
      body: raw,
    });
    if (!result.ok) {
      cp.log.info("nip98 rejected", { path: c.req.path, reason: result.reason });
      throw new HttpError(401, `NIP-98: ${result.reason}`, { code: "nip98_invalid" });
    }
    // Replay window: remember the event id for twice the clock tolerance, in the shared state so
    // that every instance of the control plane sees it (PostgreSQL with several instances).
    const seen = await cp.state.kv.atomic()
      .check({ key: ["nip98_seen", result.event.id], versionstamp: null })
      .set(["nip98_seen", result.event.id], 1, { expireIn: 2 * NIP98_TOLERANCE_SEC * 1000 })
      .commit();
    if (!seen.ok) {
      throw new HttpError(401, "NIP-98: replayed event (this event id was already used)", {
        code: "nip98_replayed",
      });
    }
    c.set("nodePubkey", result.pubkey);
    c.set("rawBody", raw);
    await next();
  };
}

/** The body of a NIP-98-verified request as JSON, or a 400. */
export function verifiedJson(c: AppContext): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(c.get("rawBody") as Uint8Array));
  } catch {
    throw new HttpError(400, "body must be JSON", { code: "invalid_json" });
  }
}
