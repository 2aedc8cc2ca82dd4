// Consumer deposits: the processor's payments, and the webhook events that credit them. Each
// event id is acted on once, and each payment credits at most once (`deposit:<payment id>`),
// whichever of `payment.confirmed` / `payment.forwarded` arrives first and however often. A payment
// is credited what the processor says was paid, which an under- or overpayment makes differ from
// what was asked.
import type { Sql } from "./client.ts";
import { consumerBalance, postTransaction, PROCESSOR_CLEARING } from "./ledger.ts";

/** A deposit as stored. `amount` is nano-USD. */
export interface PaymentRow {
  id: string;
  apiKeyId: bigint;
  /** What was asked. */
  amount: bigint;
  /** What the processor said was paid and was credited (nano-USD); null until credited. */
  paidAmount: bigint | null;
  coin: string;
  paymentAddress: string;
  cryptoAmount: string;
  qrCode: string;
  status: string;
  txHash: string | null;
  expiresAt: Date;
  createdAt: Date;
  creditedAt: Date | null;
  /** The consumer's Idempotency-Key, when they sent one. */
  idempotencyKey: string | null;
}

function fromDb(r: Record<string, unknown>): PaymentRow {
  return {
    id: r.id as string,
    apiKeyId: r.api_key_id as bigint,
    amount: r.amount as bigint,
    paidAmount: r.paid_amount as bigint | null,
    coin: r.coin as string,
    paymentAddress: r.payment_address as string,
    cryptoAmount: r.crypto_amount as string,
    qrCode: r.qr_code as string,
    status: r.status as string,
    txHash: r.tx_hash as string | null,
    expiresAt: r.expires_at as Date,
    createdAt: r.created_at as Date,
    creditedAt: r.credited_at as Date | null,
    idempotencyKey: r.idempotency_key as string | null,
  };
}

/** A payment to store, as the processor created it. */
export type NewPayment =
  & Omit<PaymentRow, "paidAmount" | "txHash" | "createdAt" | "creditedAt" | "idempotencyKey">
  & { idempotencyKey?: string | null };

/**
 * Stores a payment the processor created. A retried create of the same payment keeps the first,
 * and so does a second payment under an Idempotency-Key the key already used: the row returned is
 * then the first one, which the caller compares with what it asked for.
 */
export async function insertPayment(sql: Sql, p: NewPayment): Promise<PaymentRow> {
  const key = p.idempotencyKey ?? null;
  await sql`
    insert into payments (id, api_key_id, amount, coin, payment_address, crypto_amount, qr_code, status,
                          expires_at, idempotency_key)
    values (${p.id}, ${p.apiKeyId}, ${p.amount}, ${p.coin}, ${p.paymentAddress}, ${p.cryptoAmount},
            ${p.qrCode}, ${p.status}, ${p.expiresAt}, ${key})
    on conflict do nothing`;
  return (await findPayment(sql, p.id)) ?? (await findPaymentByIdempotencyKey(sql, p.apiKeyId, key!))!;
}

/** The payment an API key created with an Idempotency-Key, if any. */
export async function findPaymentByIdempotencyKey(
  sql: Sql,
  apiKeyId: bigint,
  idempotencyKey: string,
): Promise<PaymentRow | null> {
  const [r] = await sql<Record<string, unknown>[]>`
    select * from payments where api_key_id = ${apiKeyId} and idempotency_key = ${idempotencyKey}`;
  return r ? fromDb(r) : null;
}

/** A payment by the processor's id. */
export async function findPayment(sql: Sql, id: string): Promise<PaymentRow | null> {
  const [r] = await sql<Record<string, unknown>[]>`select * from payments where id = ${id}`;
  return r ? fromDb(r) : null;
}

/** A key's payments, newest first. */
export async function listPayments(sql: Sql, apiKeyId: bigint, limit = 20): Promise<PaymentRow[]> {
  const rows = await sql<Record<string, unknown>[]>`
    select * from payments where api_key_id = ${apiKeyId} order by created_at desc limit ${limit}`;
  return rows.map(fromDb);
}

/** A verified processor event about a payment. */
export interface PaymentEvent {
  eventId: string;
  type: string;
  paymentId: string;
  status: string;
  txHash: string | null;
  /** What the event says was paid (`data.amount_usd`), nano-USD, rounded down. */
  amountPaid: bigint;
}

/** What handling an event did. */
export type PaymentEventOutcome =
  | "credited"
  | "already_credited"
  | "status_updated"
  | "ignored"
  | "duplicate_event"
  | "unknown_payment"
  /** A crediting event that says nothing was paid: nothing is credited, the payment is left as it was. */
  | "held_for_review";

const CREDITING = new Set(["payment.confirmed", "payment.forwarded"]);
const FINAL_WITHOUT_CREDIT = new Set(["payment.expired", "payment.failed"]);

/**
 * Applies a payment event once, in one transaction: the event id is recorded, and a crediting
 * event moves what it says was paid (not what was asked, when they differ) from processor
 * clearing to the consumer's balance exactly once, and stores it as the payment's `paidAmount`.
 * An unknown payment records nothing, so the processor's retry can still credit it.
 */
export async function applyPaymentEvent(sql: Sql, ev: PaymentEvent): Promise<PaymentEventOutcome> {
  return await sql.begin(async (tx) => {
    const [payment] = await tx<
      { id: string; api_key_id: bigint; amount: bigint; credited_at: Date | null }[]
    >`
      select id, api_key_id, amount, credited_at from payments where id = ${ev.paymentId} for update`;
    if (!payment) return "unknown_payment";
    const [fresh] = await tx`
      insert into webhook_events (id, type, payment_id, outcome)
      values (${ev.eventId}, ${ev.type}, ${ev.paymentId}, 'pending')
      on conflict (id) do nothing
      returning id`;
    if (!fresh) return "duplicate_event";
    let outcome: PaymentEventOutcome;
    if (CREDITING.has(ev.type) && ev.amountPaid <= 0n && !payment.credited_at) {
      outcome = "held_for_review";
    } else if (CREDITING.has(ev.type)) {
      const { applied } = await postTransaction(tx, {
        idempotencyKey: `deposit:${payment.id}`,
        kind: "deposit",
        paymentId: payment.id,
        postings: [
          { account: PROCESSOR_CLEARING, amount: -ev.amountPaid },
          { account: consumerBalance(payment.api_key_id), amount: ev.amountPaid },
        ],
      });
      outcome = applied ? "credited" : "already_credited";
      // A later event of a credited payment (forwarded after confirmed) keeps the first credit.
      await tx`
        update payments set status = ${ev.status}, tx_hash = coalesce(${ev.txHash}, tx_hash),
          credited_at = coalesce(credited_at, now()), paid_amount = coalesce(paid_amount, ${ev.amountPaid})
        where id = ${payment.id}`;
    } else if (FINAL_WITHOUT_CREDIT.has(ev.type)) {
      // A payment already credited stays credited; a late "expired" does not take money back.
      outcome = payment.credited_at ? "ignored" : "status_updated";
      if (!payment.credited_at) await tx`update payments set status = ${ev.status} where id = ${payment.id}`;
    } else {
      outcome = "ignored";
    }
    await tx`update webhook_events set outcome = ${outcome} where id = ${ev.eventId}`;
    return outcome;
  });
}

/** A movement on a consumer's balance, for their statement. */
export interface BalanceMovement {
  kind: string;
  amount: bigint;
  jobId: string | null;
  paymentId: string | null;
  at: Date;
}

/** A consumer's balance, holds, and latest movements on the balance. */
export async function consumerStatement(
  sql: Sql,
  apiKeyId: bigint,
  limit = 50,
): Promise<{ balance: bigint; held: bigint; movements: BalanceMovement[] }> {
  const owner = apiKeyId.toString();
  const accounts = await sql<{ kind: string; balance: bigint }[]>`
    select kind, balance from accounts
    where owner = ${owner} and kind in ('consumer_balance', 'consumer_holds', 'consumer_vouchers')`;
  const rows = await sql<
    { kind: string; amount: bigint; job_id: string | null; payment_id: string | null; at: Date }[]
  >`
    select t.kind, p.amount, t.job_id, t.payment_id, t.created_at as at
    from accounts a
    join postings p on p.account_id = a.id
    join ledger_transactions t on t.id = p.transaction_id
    where a.kind = 'consumer_balance' and a.owner = ${owner}
    order by p.transaction_id desc limit ${limit}`;
  return {
    balance: accounts.find((a) => a.kind === "consumer_balance")?.balance ?? 0n,
    // Set aside: for jobs in flight, and for spending vouchers issued and not yet redeemed.
    held: accounts.filter((a) => a.kind !== "consumer_balance").reduce((s, a) => s + a.balance, 0n),
    movements: rows.map((r) => ({
      kind: r.kind,
      amount: r.amount,
      jobId: r.job_id,
      paymentId: r.payment_id,
      at: r.at,
    })),
  };
}
