// Public receipts (docs/protocol.md §11): a job's signed receipts, a node's receipts page by page
// (keyset on the platform chain's seq), and the control plane's public key at well-known URLs so
// anyone can check the countersignatures. Events are served exactly as signed.
import type { Hono } from "hono";
import type { AppEnv } from "../app_env.ts";
import type { ControlPlane } from "../control_plane.ts";
import { listReceipts, receiptsForJob, type StoredReceipt } from "../../db/mod.ts";
import { nostrDid, parseOperatorKey } from "../../shared/mod.ts";
import { HttpError } from "../http_error.ts";

const MAX_PAGE = 500;
const DEFAULT_PAGE = 100;

/** One receipt as served: the platform's event and the node's (null when it did not sign). */
function item(r: StoredReceipt): string {
  return `{"receipt":${r.event},"node_receipt":${r.nodeEvent ?? "null"}}`;
}

function jsonText(text: string): Response {
  return new Response(text, { headers: { "content-type": "application/json" } });
}

function intParam(
  value: string | undefined,
  name: string,
  fallback: number,
  range: { min: number; max: number },
): number {
  if (value === undefined || value === "") return fallback;
  if (!/^\d{1,15}$/.test(value) || Number(value) < range.min || Number(value) > range.max) {
    throw new HttpError(400, `${name} must be an integer from ${range.min} to ${range.max}`, {
      code: "invalid_request",
      param: name,
    });
  }
  return Number(value);
}

/** Mounts the receipt routes and the platform key's well-known documents. */
export function mountReceiptRoutes(app: Hono<AppEnv>, cp: ControlPlane): void {
  app.get("/api/receipts", async (c) => {
    const ref = c.req.query("node");
    if (!ref) {
      throw new HttpError(400, "give the node: ?node=<npub or hex>", {
        code: "invalid_request",
        param: "node",
      });
    }
    const node = parseOperatorKey(ref);
    if (!node) {
      throw new HttpError(400, "node must be an npub or 64 hex characters", {
        code: "invalid_request",
        param: "node",
      });
    }
    const after = intParam(c.req.query("after"), "after", 0, { min: 0, max: Number.MAX_SAFE_INTEGER });
    const limit = intParam(c.req.query("limit"), "limit", DEFAULT_PAGE, { min: 1, max: MAX_PAGE });
    const rows = await listReceipts(cp.db.sql, { node, afterSeq: after, limit });
    const next = rows.length === limit ? JSON.stringify(String(rows[rows.length - 1].seq)) : "null";
    return jsonText(`{"node":"${node}","receipts":[${rows.map(item).join(",")}],"next":${next}}`);
  });

  app.get("/api/receipts/:job_id", async (c) => {
    const jobId = c.req.param("job_id");
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(jobId)) {
      throw new HttpError(400, "not a job id", { code: "invalid_request", param: "job_id" });
    }
    const rows = await receiptsForJob(cp.db.sql, jobId);
    if (rows.length === 0) {
      throw new HttpError(
        404,
        `no receipt for job ${jobId} (yet: a receipt is written within seconds of the job's end)`,
        { code: "receipt_not_found" },
      );
    }
    return jsonText(`{"job_id":${JSON.stringify(jobId)},"receipts":[${rows.map(item).join(",")}]}`);
  });

  app.get("/.well-known/infernet.json", (c) =>
    c.json({
      platform_pubkey: cp.platformKey.pubkey,
      platform_npub: cp.platformKey.npub,
      platform_did: nostrDid(cp.platformKey.pubkey),
      receipts: "/api/receipts",
    }));

  // NIP-05: `_@<host>` is the control plane's own key.
  app.get("/.well-known/nostr.json", (c) => {
    const name = c.req.query("name");
    const names = name === undefined || name === "_" ? { _: cp.platformKey.pubkey } : {};
    return c.json({ names }, 200, { "access-control-allow-origin": "*" });
  });
}
