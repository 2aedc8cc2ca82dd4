// GET /api/verifications?node=<npub|hex>&after=<cursor>&limit=N: a node's verification results
// (signed kind 7477 events), oldest first, in keyset pages. Public, like the receipts they cite.
import type { AppContext } from "../app_env.ts";
import { listVerifications, parseVerificationCursor } from "../../db/mod.ts";
import type { ControlPlane } from "../control_plane.ts";
import { HttpError } from "../http_error.ts";
import { toHex } from "../api/nodes/status.ts";

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 500;

/** The handler for a node's verifications. */
export function listVerificationsApi(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> => {
    const node = toHex(c.req.query("node") ?? "");
    if (!node) {
      throw new HttpError(400, "node must be a node's public key, hex or npub", {
        code: "invalid_request",
        param: "node",
      });
    }
    const rawAfter = c.req.query("after");
    const after = rawAfter ? parseVerificationCursor(rawAfter) : null;
    if (rawAfter && !after) {
      throw new HttpError(400, "after must be the `next` of an earlier page", {
        code: "invalid_request",
        param: "after",
      });
    }
    const rawLimit = c.req.query("limit");
    const limit = rawLimit === undefined ? DEFAULT_LIMIT : Number(rawLimit);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
      throw new HttpError(400, `limit must be an integer from 1 to ${MAX_LIMIT}`, {
        code: "invalid_request",
        param: "limit",
      });
    }
    const page = await listVerifications(cp.db.sql, { node, after, limit });
    return c.json({ node, verifications: page.rows.map((r) => JSON.parse(r.event)), next: page.next });
  };
}
