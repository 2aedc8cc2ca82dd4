// Consumer deposits (Bearer API key): `POST /api/deposits {amount_usd, coin}` creates a payment
// at the processor and answers where to send how much; `GET /api/deposits/:id` is its status
// (credited once the processor's webhook confirms it); `GET /api/balance` is the statement.
// An `Idempotency-Key` makes a retried POST answer the same deposit; the same key with another
// amount or coin is refused with 409 and creates nothing.
import type { AppContext } from "../app_env.ts";
import {
  consumerStatement,
  findPayment,
  findPaymentByIdempotencyKey,
  insertPayment,
  listPayments,
  type PaymentRow,
} from "../../db/mod.ts";
import {
  compileSchema,
  formatUsd,
  isCoin,
  type JsonSchema,
  parseDecimal,
  SUPPORTED_COINS,
} from "../../shared/mod.ts";
import type { ControlPlane } from "../control_plane.ts";
import { HttpError } from "../http_error.ts";
import { ProcessorError } from "../payments/processor.ts";
import { readJsonBody } from "../http_body.ts";

/** Nano-USD in one US cent. */
const NANO_PER_CENT = 10_000_000n;

function depositJson(p: PaymentRow) {
  return {
    id: p.id,
    object: "deposit",
    status: p.creditedAt ? "credited" : p.status,
    amount_usd: formatUsd(p.amount),
    /** What the processor says was paid, and was credited: differs from `amount_usd` when under- or overpaid. */
    paid_usd: p.paidAmount === null ? null : formatUsd(p.paidAmount),
    coin: p.coin,
    payment_address: p.paymentAddress,
    crypto_amount: p.cryptoAmount,
    qr_code: p.qrCode,
    expires_at: p.expiresAt.toISOString(),
    created_at: p.createdAt.toISOString(),
    credited_at: p.creditedAt?.toISOString() ?? null,
  };
}

/** `POST /api/deposits`'s body (published in /openapi.json); the bounds come from the config. */
export const DEPOSIT_REQUEST_SCHEMA: JsonSchema = {
  type: "object",
  title: "DepositRequest",
  required: ["amount_usd", "coin"],
  properties: {
    amount_usd: {
      anyOf: [{ type: "number", minimum: 0 }, { type: "string", pattern: "^\\s*\\d+(\\.\\d*)?\\s*$" }],
      description: "USD with at most 2 decimals, within min/max_deposit_usd of `GET /api/pricing`.",
      examples: ["25.00"],
    },
    coin: { enum: SUPPORTED_COINS, description: "The coin to pay in." },
  },
};

const checkDeposit = compileSchema(DEPOSIT_REQUEST_SCHEMA);

/** Validates a deposit body: a USD amount in whole cents within the published bounds, and a coin. */
export function parseDepositBody(
  raw: unknown,
  bounds: { minCents: number; maxCents: number },
): { cents: number; coin: (typeof SUPPORTED_COINS)[number] } {
  const issue = checkDeposit(raw);
  const body = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  const cents = issue !== null && issue.param !== "coin" ? null : parseDecimal(body.amount_usd, 2);
  // parseDecimal drops digits past the ones asked for, so compare at the input's full length:
  // "12.5000000001" is refused rather than silently taken as 12.50.
  const digits = cents === null ? 0 : Math.max(String(body.amount_usd).length, 20);
  const exact = cents !== null && parseDecimal(body.amount_usd, digits) === cents * 10n ** BigInt(digits - 2);
  if (cents === null || !exact || cents < BigInt(bounds.minCents) || cents > BigInt(bounds.maxCents)) {
    throw new HttpError(
      400,
      `amount_usd must be an amount in USD with at most 2 decimals, from ${
        formatUsd(BigInt(bounds.minCents) * NANO_PER_CENT)
      } to ${formatUsd(BigInt(bounds.maxCents) * NANO_PER_CENT)}.`,
      { code: "invalid_amount", param: "amount_usd" },
    );
  }
  if (issue !== null || !isCoin(body.coin)) {
    throw new HttpError(400, `coin must be one of ${SUPPORTED_COINS.join(", ")}.`, {
      code: "invalid_coin",
      param: "coin",
    });
  }
  return { cents: Number(cents), coin: body.coin };
}

/** `POST /api/deposits`. */
export function createDeposit(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> => {
    const caller = await cp.auth.authenticate(c.req.header("authorization") ?? null);
    const { cents, coin } = parseDepositBody(await readJsonBody(c.req.raw), {
      minCents: cp.config.minDepositCents,
      maxCents: cp.config.maxDepositCents,
    });
    const payment = await startDeposit(cp, {
      apiKeyId: caller.apiKeyId,
      cents,
      coin,
      idempotencyKey: c.req.header("idempotency-key") ?? null,
    });
    return c.json(depositJson(payment), 201);
  };
}

/** The one error for an Idempotency-Key already used with another body; nothing is created. */
function keyReused(key: string, first: PaymentRow): HttpError {
  return new HttpError(
    409,
    `Idempotency-Key '${key}' was already used for a deposit of ${
      formatUsd(first.amount)
    } USD in ${first.coin}; ` +
      "a retry must send the same amount_usd and coin, and a new deposit needs a new key.",
    { code: "idempotency_key_reused" },
  );
}

/** The deposit a key already made under this Idempotency-Key, if it asked for the same; 409 if not. */
function sameDeposit(
  d: { cents: number; coin: string; idempotencyKey: string | null },
  first: PaymentRow,
): PaymentRow {
  if (
    d.idempotencyKey !== null && (first.amount !== BigInt(d.cents) * NANO_PER_CENT || first.coin !== d.coin)
  ) {
    throw keyReused(d.idempotencyKey, first);
  }
  return first;
}

/**
 * Creates a deposit at the processor and stores it (also used by the local network's start and
 * the account page). With an Idempotency-Key already used by this API key, answers that deposit
 * when the amount and coin are the same, and throws 409 when they are not, before the processor
 * is asked anything.
 */
export async function startDeposit(
  cp: ControlPlane,
  d: {
    apiKeyId: bigint;
    cents: number;
    coin: (typeof SUPPORTED_COINS)[number];
    idempotencyKey: string | null;
  },
): Promise<PaymentRow> {
  if (d.idempotencyKey !== null) {
    const first = await findPaymentByIdempotencyKey(cp.db.sql, d.apiKeyId, d.idempotencyKey);
    if (first) return sameDeposit(d, first);
  }
  let created;
  try {
    created = await cp.processor.createPayment({
      amountCents: d.cents,
      coin: d.coin,
      description: `Infernet credit for API key ${d.apiKeyId}`,
      metadata: { api_key_id: d.apiKeyId.toString() },
      // The consumer's own Idempotency-Key (scoped to their key) makes a retried POST safe.
      idempotencyKey: `deposit:${d.apiKeyId}:${d.idempotencyKey ?? crypto.randomUUID()}`,
    });
  } catch (err) {
    if (err instanceof ProcessorError && err.code === "processor_not_configured") {
      throw new HttpError(503, "Deposits are off: this server has no payment processor configured.", {
        code: "payments_not_configured",
        cause: err,
      });
    }
    if (err instanceof ProcessorError) {
      cp.log.warn("deposit not created", { code: err.code, err: err.message });
      throw new HttpError(
        err.retryable ? 503 : 502,
        `The payment processor could not create the deposit: ${err.message}`,
        { code: "processor_error", cause: err },
      );
    }
    throw err;
  }
  const existing = await findPayment(cp.db.sql, created.id);
  if (existing && existing.apiKeyId !== d.apiKeyId) {
    throw new HttpError(409, "That Idempotency-Key belongs to another deposit.", { code: "invalid_request" });
  }
  // Two requests with one key racing past the check above: the processor answers both with the
  // first payment, and the row stored first is compared with what this one asked.
  return sameDeposit(
    d,
    existing ?? await insertPayment(cp.db.sql, {
      id: created.id,
      apiKeyId: d.apiKeyId,
      amount: BigInt(d.cents) * NANO_PER_CENT,
      coin: d.coin,
      paymentAddress: created.paymentAddress,
      cryptoAmount: created.cryptoAmount,
      qrCode: created.qrCode,
      status: created.status,
      expiresAt: created.expiresAt,
      idempotencyKey: d.idempotencyKey,
    }),
  );
}

/** `GET /api/deposits/:id`: the caller's own deposits only. */
export function getDeposit(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> => {
    const caller = await cp.auth.authenticate(c.req.header("authorization") ?? null);
    const payment = await findPayment(cp.db.sql, c.req.param("id") ?? "");
    if (!payment || payment.apiKeyId !== caller.apiKeyId) {
      throw new HttpError(404, "No such deposit for this API key.", { code: "payment_not_found" });
    }
    return c.json(depositJson(payment));
  };
}

/** `GET /api/balance`: what the key can spend, what is held for jobs in flight and unspent vouchers, and recent movements. */
export function getBalance(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> => {
    const caller = await cp.auth.authenticate(c.req.header("authorization") ?? null);
    // Jobs this instance answered are committed first: a balance read after an answer shows its charge.
    await cp.recorder.flush();
    const [statement, deposits] = await Promise.all([
      consumerStatement(cp.db.sql, caller.apiKeyId),
      listPayments(cp.db.sql, caller.apiKeyId, 10),
    ]);
    return c.json({
      object: "balance",
      currency: "USD",
      balance_usd: formatUsd(statement.balance),
      held_usd: formatUsd(statement.held),
      movements: statement.movements.map((m) => ({
        type: m.kind,
        amount_usd: formatUsd(m.amount),
        job_id: m.jobId,
        payment_id: m.paymentId,
        created_at: m.at.toISOString(),
      })),
      deposits: deposits.map(depositJson),
    });
  };
}
