// The CoinPayPortal adapter: PaymentProcessor over CoinPayPortal's HTTP API (DESIGN.md "Money").
// Wire bodies stay snake_case as the API spells them; each response is validated here, once,
// into the camelCase processor types. Tested against testing/fake_coinpayportal.ts.
import {
  type CreatePaymentRequest,
  type CreatePayoutRequest,
  type PaymentProcessor,
  ProcessorError,
  type ProcessorPayment,
  type ProcessorPayout,
} from "./processor.ts";
import { parseWireDecimal } from "./webhook.ts";
import { isRecord } from "../../shared/mod.ts";

/** How to reach CoinPayPortal; `fetch` is swappable for tests, `timeoutMs` bounds each call. */
export interface CoinPayPortalOptions {
  baseUrl: string;
  apiKey: string;
  businessId: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 15_000;
/**
 * CoinPayPortal's payout statuses (its `PayoutRecord.status`) and what each is to us. `indeterminate`
 * means CoinPayPortal itself does not know whether the transfer was broadcast and waits for someone
 * to resolve it by hand, so it is not final here either: its money is never returned on a guess.
 */
const PAYOUT_STATUSES: Record<string, ProcessorPayout["status"]> = {
  pending: "pending",
  processing: "pending",
  indeterminate: "pending",
  completed: "completed",
  failed: "failed",
};

/**
 * Whole cents as the JSON number CoinPayPortal expects in `amount_usd`, built from the decimal
 * text so no float arithmetic touches it: 1050 → 10.5, 1 → 0.01.
 */
export function usdFromCents(cents: number): number {
  if (!Number.isSafeInteger(cents) || cents <= 0) {
    throw new ProcessorError("invalid_amount", `amount must be a positive whole number of cents: ${cents}`);
  }
  return Number(`${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`);
}

/** CoinPayPortal as a `PaymentProcessor`. */
export class CoinPayPortal implements PaymentProcessor {
  readonly #baseUrl: string;
  readonly #apiKey: string;
  readonly #businessId: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  constructor(opts: CoinPayPortalOptions) {
    this.#baseUrl = opts.baseUrl.replace(/\/+$/, "");
    this.#apiKey = opts.apiKey;
    this.#businessId = opts.businessId;
    this.#fetch = opts.fetch ?? globalThis.fetch;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** `POST /api/payments/create` → 201 `{success, payment:{…}}`. */
  async createPayment(req: CreatePaymentRequest): Promise<ProcessorPayment> {
    const body = {
      business_id: this.#businessId,
      amount_usd: usdFromCents(req.amountCents),
      currency: "USD",
      blockchain: req.coin,
      description: req.description,
      metadata: req.metadata,
      ...(req.redirectUrl ? { redirect_url: req.redirectUrl } : {}),
    };
    const res = await this.#post("/api/payments/create", body, req.idempotencyKey);
    return parsePayment(res.json, res.status);
  }

  /**
   * `POST /api/businesses/{business_id}/payouts` → 201 `{success:true, payout:{id, status,
   * tx_hash, error_message, …}}` (CoinPayPortal's `PayoutRecord`).
   */
  async createPayout(req: CreatePayoutRequest): Promise<ProcessorPayout> {
    const body = {
      recipient_wallet: req.recipientWallet,
      cryptocurrency: req.coin,
      amount_usd: usdFromCents(req.amountCents),
    };
    const path = `/api/businesses/${encodeURIComponent(this.#businessId)}/payouts`;
    const res = await this.#post(path, body, req.idempotencyKey);
    return parsePayout(res.json, res.status);
  }

  /**
   * `GET /api/businesses/{business_id}/payouts/{payout_id}` → 200 `{success:true, payout:{…}}`,
   * the same `PayoutRecord` the create answers; 404 `{success:false, error}` when unknown.
   */
  async getPayout(id: string): Promise<ProcessorPayout> {
    const path = `/api/businesses/${encodeURIComponent(this.#businessId)}/payouts/${encodeURIComponent(id)}`;
    const res = await this.#request("GET", path);
    return parsePayout(res.json, res.status);
  }

  #post(path: string, body: unknown, idempotencyKey: string) {
    return this.#request("POST", path, { body, idempotencyKey });
  }

  async #request(
    method: "GET" | "POST",
    path: string,
    send: { body: unknown; idempotencyKey: string } | null = null,
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), this.#timeoutMs);
    let status: number;
    let text: string;
    try {
      const headers: Record<string, string> = {
        "Authorization": `Bearer ${this.#apiKey}`,
        "Accept": "application/json",
      };
      if (send) {
        headers["Content-Type"] = "application/json";
        headers["Idempotency-Key"] = send.idempotencyKey;
      }
      const res = await this.#fetch(this.#baseUrl + path, {
        method,
        headers,
        body: send ? JSON.stringify(send.body) : undefined,
        signal: ctrl.signal,
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      const why = ctrl.signal.aborted ? `timed out after ${this.#timeoutMs} ms` : String(err);
      throw new ProcessorError("processor_unreachable", `CoinPayPortal ${path}: ${why}`, {
        retryable: true,
        cause: err,
      });
    } finally {
      clearTimeout(timer);
    }
    let json: unknown = undefined;
    try {
      json = JSON.parse(text);
    } catch {
      // Error pages from proxies are not JSON; handled below by status.
    }
    if (status >= 200 && status < 300) {
      if (!isRecord(json) || json.success !== true) {
        throw badResponse(path, status, "body is not {success:true, …}");
      }
      return { status, json };
    }
    const detail = isRecord(json) && typeof json.error === "string" ? json.error : text.slice(0, 200);
    const message = `CoinPayPortal ${path} answered ${status}: ${detail || "(no body)"}`;
    if (status === 429) {
      throw new ProcessorError("processor_rate_limited", message, { status, retryable: true });
    }
    if (status >= 500) throw new ProcessorError("processor_error", message, { status, retryable: true });
    throw new ProcessorError("processor_rejected", message, { status, retryable: false });
  }
}

function parsePayment(json: Record<string, unknown>, httpStatus: number): ProcessorPayment {
  const path = "/api/payments/create";
  const bad = (what: string) => badResponse(path, httpStatus, what);
  const p = json.payment;
  if (!isRecord(p)) throw bad("no payment object");
  const { id, payment_address, crypto_amount, qr_code, status, expires_at } = p;
  if (typeof id !== "string" || !id) throw bad("payment.id");
  if (typeof payment_address !== "string" || !payment_address) {
    throw bad("payment.payment_address");
  }
  // A JSON number or a decimal string; kept as exact decimal text.
  const cryptoAmount = parseWireDecimal(crypto_amount);
  if (cryptoAmount === null) throw bad("payment.crypto_amount");
  if (typeof qr_code !== "string") throw bad("payment.qr_code");
  if (typeof status !== "string" || !status) throw bad("payment.status");
  const expiresMs = typeof expires_at === "string" ? Date.parse(expires_at) : NaN;
  if (!Number.isFinite(expiresMs)) throw bad("payment.expires_at");
  return {
    id,
    paymentAddress: payment_address,
    cryptoAmount,
    qrCode: qr_code,
    status,
    expiresAt: new Date(expiresMs),
  };
}

function parsePayout(json: Record<string, unknown>, httpStatus: number): ProcessorPayout {
  const path = "/api/businesses/{id}/payouts[/{payout_id}]";
  const bad = (what: string) => badResponse(path, httpStatus, what);
  const p = json.payout;
  if (!isRecord(p)) throw bad("no payout object");
  const { id, status, tx_hash, error_message } = p;
  if (typeof id !== "string" || !id) throw bad("payout.id");
  const known = typeof status === "string" && Object.hasOwn(PAYOUT_STATUSES, status)
    ? PAYOUT_STATUSES[status]
    : null;
  if (!known) throw bad("payout.status");
  if (tx_hash !== undefined && tx_hash !== null && typeof tx_hash !== "string") {
    throw bad("payout.tx_hash");
  }
  if (error_message !== undefined && error_message !== null && typeof error_message !== "string") {
    throw bad("payout.error_message");
  }
  return { id, status: known, txHash: tx_hash || null, error: error_message || null };
}

/** A 2xx whose body we cannot read: not retried blindly (the call may have taken effect). */
function badResponse(path: string, status: number, what: string): ProcessorError {
  return new ProcessorError("processor_bad_response", `CoinPayPortal ${path}: malformed response (${what})`, {
    status,
  });
}
