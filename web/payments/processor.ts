// The payment processor as the control plane sees it: create a consumer payment (deposit), send
// an operator payout, and read a payout's status until it is final. CoinPayPortal implements it (coinpayportal.ts); tests use the fake
// server in testing/, through the same adapter.
import type { Coin } from "../../shared/mod.ts";

/** A payment to create for a consumer deposit. Amounts cross this boundary in whole US cents. */
export interface CreatePaymentRequest {
  amountCents: number;
  coin: Coin;
  description: string;
  /** Echoed back in webhooks (CoinPayPortal `metadata`). */
  metadata: Record<string, string>;
  redirectUrl?: string | null;
  /** Sent as `Idempotency-Key`: a retried create returns the first payment. */
  idempotencyKey: string;
}

/** A payment the processor created: where and how much the consumer sends. */
export interface ProcessorPayment {
  id: string;
  paymentAddress: string;
  cryptoAmount: string;
  qrCode: string;
  status: string;
  expiresAt: Date;
}

/** A payout to send to an operator. */
export interface CreatePayoutRequest {
  recipientWallet: string;
  coin: Coin;
  amountCents: number;
  /** Sent as `Idempotency-Key`: a retried payout is never sent twice. */
  idempotencyKey: string;
}

/** A payout the processor accepted (or finished). `pending` is anything not final yet. */
export interface ProcessorPayout {
  id: string;
  status: "pending" | "completed" | "failed";
  txHash: string | null;
  /** Why it failed, as the processor says. */
  error: string | null;
}

/** What the control plane needs from a payment processor. */
export interface PaymentProcessor {
  createPayment(req: CreatePaymentRequest): Promise<ProcessorPayment>;
  createPayout(req: CreatePayoutRequest): Promise<ProcessorPayout>;
  /** A payout's status by the processor's id. */
  getPayout(id: string): Promise<ProcessorPayout>;
}

/** A processor call that failed; `retryable` when the same call may succeed later. */
export class ProcessorError extends Error {
  override name = "ProcessorError";
  readonly code: string;
  readonly status: number | null;
  readonly retryable: boolean;
  constructor(
    code: string,
    message: string,
    opts: { status?: number | null; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.code = code;
    this.status = opts.status ?? null;
    this.retryable = opts.retryable ?? false;
  }
}
