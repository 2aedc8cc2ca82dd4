// `POST /v1/vouchers` (API key): a batch of spending vouchers for one consumer key, held against
// the key's balance (docs/protocol.md, "Vouchers"); `Idempotency-Key` makes a retry safe.
import type { AppContext } from "../../app_env.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { formatUsd } from "../../../shared/mod.ts";
import { issueBatch, parseVoucherRequest } from "../../vouchers/issue.ts";

/** `POST /v1/vouchers` → 201 `{object: "voucher_batch", vouchers: [signed kind-7482 events], …}`. */
export function createVouchers(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> => {
    const req = parseVoucherRequest(c.get("body"));
    const caller = c.get("caller");
    const batch = await issueBatch(cp, caller.apiKeyId, req, c.req.header("idempotency-key") ?? null);
    const first = batch.rows[0];
    return c.json({
      object: "voucher_batch",
      batch: batch.batch,
      platform_pubkey: cp.platformKey.pubkey,
      consumer_pubkey: first.consumer,
      count: batch.rows.length,
      max_usd: formatUsd(first.maxNano),
      total_usd: formatUsd(first.maxNano * BigInt(batch.rows.length)),
      expires_at: Math.floor(first.expiresAt.getTime() / 1000),
      vouchers: batch.vouchers,
    }, 201);
  };
}
