// The double-entry ledger's one write primitive. Every movement of money is a ledger transaction
// (unique idempotency key) whose postings sum to zero; each account's `balance` is moved in the
// same database transaction, so balances and postings never disagree. Amounts are integer
// nano-USD (1e-9 USD) as bigint.
import type postgres from "postgres";
import type { Sql } from "./client.ts";

/** A transaction-scoped client, as `sql.begin` hands it down. */
export type Tx = postgres.TransactionSql<{ bigint: bigint }>;

/** The kinds of account the ledger keeps (see `0002_ledger.sql`). */
export type AccountKind =
  | "consumer_balance"
  | "consumer_holds"
  | "consumer_vouchers"
  | "operator_earnings"
  | "platform_fees"
  | "processor_clearing"
  | "payouts_in_flight";

/** The kinds of ledger transaction. */
export type LedgerTxKind =
  | "deposit"
  | "reserve"
  | "settle"
  | "settle_batch"
  | "release"
  | "payout"
  | "payout_sent"
  | "payout_reversed"
  | "canary_funding"
  | "voucher_hold"
  | "voucher_release";

/** An account by kind and owner (an API key id, a node pubkey, or "" for the platform's own). */
export interface AccountRef {
  kind: AccountKind;
  owner: string;
}

/** One side of a movement: a signed amount on one account. */
export interface Posting {
  account: AccountRef;
  amount: bigint;
}

/** A movement to post: its idempotency key, kind, what it refers to, and its postings. */
export interface LedgerEntry {
  idempotencyKey: string;
  kind: LedgerTxKind;
  jobId?: string | null;
  paymentId?: string | null;
  payoutId?: bigint | null;
  postings: Posting[];
}

/** Stable codes of ledger errors. */
export type LedgerErrorCode = "unbalanced" | "insufficient_funds" | "invalid_entry" | "lease_released";

/** A movement the ledger refused; nothing of it was written. */
export class LedgerError extends Error {
  override name = "LedgerError";
  readonly code: LedgerErrorCode;
  constructor(code: LedgerErrorCode, message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.code = code;
  }
}

/** The platform's own accounts. */
export const PLATFORM_FEES: AccountRef = { kind: "platform_fees", owner: "" };
/** Money in and out through the payment processor (its balance is negative: money in). */
export const PROCESSOR_CLEARING: AccountRef = { kind: "processor_clearing", owner: "" };
/** Payouts sent to the processor and not yet confirmed or reversed. */
export const PAYOUTS_IN_FLIGHT: AccountRef = { kind: "payouts_in_flight", owner: "" };

/** A consumer's spendable balance (owner: the API key id). */
export function consumerBalance(apiKeyId: bigint): AccountRef {
  return { kind: "consumer_balance", owner: apiKeyId.toString() };
}

/** A consumer's money held for jobs in flight. */
export function consumerHolds(apiKeyId: bigint): AccountRef {
  return { kind: "consumer_holds", owner: apiKeyId.toString() };
}

/** A consumer's money held for spending vouchers issued and not yet redeemed or expired. */
export function consumerVouchers(apiKeyId: bigint): AccountRef {
  return { kind: "consumer_vouchers", owner: apiKeyId.toString() };
}

/** What an operator (node pubkey, hex) has earned and not yet been paid. */
export function operatorEarnings(nodePubkey: string): AccountRef {
  return { kind: "operator_earnings", owner: nodePubkey };
}

function mergePostings(postings: Posting[]): Posting[] {
  const byAccount = new Map<string, Posting>();
  for (const p of postings) {
    if (typeof p.amount !== "bigint") throw new LedgerError("invalid_entry", "amounts must be bigint");
    const key = `${p.account.kind}\u0000${p.account.owner}`;
    const seen = byAccount.get(key);
    byAccount.set(key, { account: p.account, amount: (seen?.amount ?? 0n) + p.amount });
  }
  return [...byAccount.values()].filter((p) => p.amount !== 0n);
}

/**
 * Posts one movement inside the caller's transaction; a key seen before posts nothing and
 * returns the first transaction's id with `applied: false`. Throws LedgerError when the postings
 * do not sum to zero or an account other than the processor's would go negative (the caller's
 * transaction is then aborted, so nothing is written).
 */
export async function postTransaction(
  tx: Tx,
  entry: LedgerEntry,
): Promise<{ transactionId: bigint; applied: boolean }> {
  const postings = mergePostings(entry.postings);
  const sum = postings.reduce((s, p) => s + p.amount, 0n);
  if (sum !== 0n) {
    throw new LedgerError("unbalanced", `postings of '${entry.idempotencyKey}' sum to ${sum}, not 0`);
  }
  if (!entry.idempotencyKey) throw new LedgerError("invalid_entry", "an idempotency key is required");
  const [inserted] = await tx<{ id: bigint }[]>`
    insert into ledger_transactions (idempotency_key, kind, job_id, payment_id, payout_id)
    values (${entry.idempotencyKey}, ${entry.kind}, ${entry.jobId ?? null}, ${entry.paymentId ?? null},
            ${entry.payoutId ?? null})
    on conflict (idempotency_key) do nothing
    returning id`;
  if (!inserted) {
    const [first] = await tx<{ id: bigint }[]>`
      select id from ledger_transactions where idempotency_key = ${entry.idempotencyKey}`;
    return { transactionId: first.id, applied: false };
  }
  if (postings.length === 0) return { transactionId: inserted.id, applied: true };
  const kinds = postings.map((p) => p.account.kind);
  const owners = postings.map((p) => p.account.owner);
  const amounts = postings.map((p) => p.amount.toString());
  await tx`
    insert into accounts (kind, owner)
    select * from unnest(${kinds}::text[], ${owners}::text[])
    on conflict (kind, owner) do nothing`;
  // Lock in account-id order, as every writer does, so concurrent movements never deadlock.
  await tx`
    select a.id from accounts a
    join unnest(${kinds}::text[], ${owners}::text[]) as d(kind, owner) on a.kind = d.kind and a.owner = d.owner
    order by a.id for update of a`;
  let moved: { id: bigint; kind: string; owner: string }[];
  try {
    // Savepoint: a refused movement (a balance would go negative) must not poison the caller's
    // transaction beyond this entry.
    moved = await tx.savepoint((sp) =>
      sp<{ id: bigint; kind: string; owner: string }[]>`
        update accounts a set balance = a.balance + d.amount
        from unnest(${kinds}::text[], ${owners}::text[], ${amounts}::bigint[]) as d(kind, owner, amount)
        where a.kind = d.kind and a.owner = d.owner
        returning a.id, a.kind, a.owner`
    );
  } catch (err) {
    if ((err as { constraint_name?: string }).constraint_name === "accounts_never_negative") {
      throw new LedgerError(
        "insufficient_funds",
        `'${entry.idempotencyKey}' would take an account below zero`,
        { cause: err },
      );
    }
    throw err;
  }
  const idOf = new Map(moved.map((m) => [`${m.kind}\u0000${m.owner}`, m.id]));
  const accountIds = postings.map((p) => idOf.get(`${p.account.kind}\u0000${p.account.owner}`)!.toString());
  await tx`
    insert into postings (transaction_id, account_id, amount)
    select ${inserted.id}, * from unnest(${accountIds}::bigint[], ${amounts}::bigint[])`;
  return { transactionId: inserted.id, applied: true };
}

/** Posts one movement in a transaction of its own. */
export function postEntry(
  sql: Sql,
  entry: LedgerEntry,
): Promise<{ transactionId: bigint; applied: boolean }> {
  return sql.begin((tx) => postTransaction(tx, entry));
}

/** An account's balance (0 when it does not exist yet). */
export async function accountBalance(sql: Sql | Tx, account: AccountRef): Promise<bigint> {
  const [row] = await sql<{ balance: bigint }[]>`
    select balance from accounts where kind = ${account.kind} and owner = ${account.owner}`;
  return row?.balance ?? 0n;
}
