// The one server error: thrown anywhere, rendered once by the app's error handler as OpenAI's
// error JSON (the node API uses the same shape, so every client parses one format).
import { type OpenAiErrorBody, openAiErrorBody } from "../shared/mod.ts";

/** Stable machine codes, OpenAI's own where they exist. */
export type ErrorCode =
  | "invalid_request"
  | "invalid_json"
  | "invalid_api_key"
  | "model_not_found"
  | "context_length_exceeded"
  | "insufficient_quota"
  | "rate_limited"
  | "no_node_available"
  | "node_failed"
  | "node_timeout"
  | "nip98_invalid"
  | "nip98_replayed"
  | "node_record_invalid"
  | "node_not_registered"
  | "node_record_outdated"
  | "not_found"
  | "price_out_of_bounds"
  | "no_node_within_max_price"
  | "invalid_amount"
  | "invalid_coin"
  | "idempotency_key_reused"
  | "payment_not_found"
  | "processor_error"
  | "payments_not_configured"
  | "webhook_invalid"
  | "claim_invalid"
  | "claim_replayed"
  | "node_already_claimed"
  | "claim_not_pending"
  | "receipt_not_found"
  | "job_not_found"
  | "job_owner_unavailable"
  | "model_key_not_found"
  | "model_key_invalid"
  | "model_key_forged"
  | "ack_invalid"
  | "ack_forged"
  | "ack_foreign"
  | "ack_replayed"
  | "node_not_candidate"
  | "node_unavailable"
  | "request_too_large"
  | "permission_denied"
  | "server_draining"
  | "voucher_forged"
  | "voucher_expired"
  | "voucher_redeemed"
  | "receipt_invalid"
  | "price_invalid"
  | "internal_error";

/** An error with the HTTP status and the stable code a client should see. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly param: string | null;
  constructor(
    status: number,
    message: string,
    opts: { code: ErrorCode; param?: string | null; cause?: unknown },
  ) {
    super(message, { cause: opts.cause });
    this.name = "HttpError";
    this.status = status;
    this.code = opts.code;
    this.param = opts.param ?? null;
  }

  /** The OpenAI-shaped body for this error. */
  toBody(): OpenAiErrorBody {
    return openAiErrorBody(this.status, this.message, { code: this.code, param: this.param });
  }
}

/** An OpenAI-shaped JSON error response. */
export function errorResponse(err: HttpError, headers?: HeadersInit): Response {
  return Response.json(err.toBody(), { status: err.status, headers });
}
