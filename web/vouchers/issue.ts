// Issuing spending vouchers (docs/protocol.md, "Vouchers"): a batch of `count` vouchers of at
// most `max_usd` each, for one consumer key, signed by the platform key and held against the API
// key's balance in one ledger transaction. An Idempotency-Key makes a retry answer the same batch.
import {
  buyerDidOf,
  createVoucher,
  formatUsd,
  isRecord,
  newVoucherId,
  type NostrEvent,
  nowSeconds,
  parseDecimal,
  type VoucherContent,
} from "../../shared/mod.ts";
import { issueVouchers, LedgerError, type VoucherRow } from "../../db/mod.ts";
import type { ControlPlane } from "../control_plane.ts";
import { HttpError } from "../http_error.ts";

/** The most vouchers one request takes. */
export const MAX_VOUCHERS_PER_BATCH = 100;
/** A voucher's life when the request names none, and the longest it may ask (seconds). */
export const DEFAULT_VOUCHER_TTL_S = 86_400;
export const MAX_VOUCHER_TTL_S = 7 * 86_400;

/** A validated request for a batch. */
export interface VoucherRequest {
  count: number;
  maxNano: bigint;
  ttlS: number;
  consumer: string;
}

function invalid(message: string, param: string): HttpError {
  return new HttpError(400, message, { code: "invalid_request", param });
}

/** Validates `POST /v1/vouchers`'s body: `{count, max_usd, ttl_s?, consumer_pubkey}`. */
export function parseVoucherRequest(raw: unknown): VoucherRequest {
  if (!isRecord(raw)) throw new HttpError(400, "the body must be a JSON object", { code: "invalid_request" });
  const count = raw.count;
  if (!Number.isSafeInteger(count) || (count as number) < 1 || (count as number) > MAX_VOUCHERS_PER_BATCH) {
    throw invalid(`count must be an integer from 1 to ${MAX_VOUCHERS_PER_BATCH}`, "count");
  }
  const maxNano = parseDecimal(raw.max_usd, 9);
  const digits = String(raw.max_usd ?? "").trim().split(".")[1]?.length ?? 0;
  if (maxNano === null || maxNano <= 0n || digits > 9 || maxNano > 1_000_000n * 1_000_000_000n) {
    throw invalid(
      "max_usd must be a positive amount in USD with at most 9 decimals, at most 1000000",
      "max_usd",
    );
  }
  const ttlS = raw.ttl_s ?? DEFAULT_VOUCHER_TTL_S;
  if (!Number.isSafeInteger(ttlS) || (ttlS as number) < 1 || (ttlS as number) > MAX_VOUCHER_TTL_S) {
    throw invalid(`ttl_s must be an integer number of seconds from 1 to ${MAX_VOUCHER_TTL_S}`, "ttl_s");
  }
  const consumer = raw.consumer_pubkey;
  if (typeof consumer !== "string" || !/^[0-9a-f]{64}$/.test(consumer)) {
    throw invalid("consumer_pubkey must be a Nostr public key: 64 lower-case hex digits", "consumer_pubkey");
  }
  return { count: count as number, maxNano, ttlS: ttlS as number, consumer };
}

/** A batch as answered. */
export interface VoucherBatch {
  batch: string;
  vouchers: NostrEvent[];
  rows: VoucherRow[];
}

/**
 * Signs and holds a batch. With an Idempotency-Key already used by this API key, answers that
 * batch when it asked for the same count, max and consumer (409 `idempotency_key_reused` when
 * not), moving no money; 402 `insufficient_quota` when the balance cannot cover count × max.
 */
export async function issueBatch(
  cp: ControlPlane,
  apiKeyId: bigint,
  req: VoucherRequest,
  idempotencyKey: string | null,
): Promise<VoucherBatch> {
  if (idempotencyKey !== null && (idempotencyKey.length === 0 || idempotencyKey.length > 200)) {
    throw new HttpError(400, "Idempotency-Key must be 1 to 200 characters", { code: "invalid_request" });
  }
  const batch = idempotencyKey ?? crypto.randomUUID();
  const now = nowSeconds();
  const buyerDid = buyerDidOf(cp.platformKey.pubkey, `key:${apiKeyId}`);
  const vouchers = Array.from({ length: req.count }, () => {
    const content: VoucherContent = {
      voucher_id: newVoucherId(),
      buyer_did: buyerDid,
      consumer: req.consumer,
      max_nano: req.maxNano.toString(),
      currency: "USD",
      expires_at: now + req.ttlS,
      created_at: now,
    };
    const event = createVoucher(cp.platformKey.secretKey, content);
    return {
      id: content.voucher_id,
      consumer: req.consumer,
      maxNano: req.maxNano,
      expiresAtS: content.expires_at,
      event: JSON.stringify(event),
    };
  });
  let issued;
  try {
    issued = await issueVouchers(cp.db.sql, { apiKeyId, name: batch, vouchers });
  } catch (err) {
    if (err instanceof LedgerError && err.code === "insufficient_funds") {
      throw new HttpError(
        402,
        `The balance cannot cover ${req.count} × ${
          formatUsd(req.maxNano)
        } USD of vouchers; deposit more or take fewer.`,
        { code: "insufficient_quota", cause: err },
      );
    }
    throw err;
  }
  const rows = issued.vouchers;
  if (
    !issued.applied &&
    (rows.length !== req.count || rows.some((r) => r.maxNano !== req.maxNano || r.consumer !== req.consumer))
  ) {
    throw new HttpError(
      409,
      `Idempotency-Key '${batch}' was already used for ${rows.length} vouchers of ${
        formatUsd(rows[0]?.maxNano ?? 0n)
      } USD; a retry must send the same count, max_usd and consumer_pubkey, and a new batch needs a new key.`,
      { code: "idempotency_key_reused" },
    );
  }
  return { batch, vouchers: rows.map((r) => JSON.parse(r.event) as NostrEvent), rows };
}
