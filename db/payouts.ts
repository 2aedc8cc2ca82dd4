// Operator payouts in the ledger: each payout's life as ledger movements.
// Requesting moves the amount from the operator's earnings to payouts in flight (`payout:<id>`);
// the processor's confirmation moves it on to processor clearing (`payout_sent:<id>`); a failure
// moves it back to earnings (`payout_reversed:<id>`). Each step is one database transaction that
// locks the payout row, so a step is taken once however often it is retried, and by however many
// sweeps at once. A payout the processor accepted (`sent`) is checked again at `nextCheckAt`
// until it is final.
import type { Sql } from "./client.ts";
import {
  LedgerError,
  operatorEarnings,
  PAYOUTS_IN_FLIGHT,
  postTransaction,
  PROCESSOR_CLEARING,
  type Tx,
} from "./ledger.ts";

/** Where a payout is: created and moved in flight, accepted by the processor, paid, or reversed. */
export type PayoutStatus = "requested" | "sent" | "completed" | "failed";

/** A payout as stored. Amounts in nano-USD. */
export interface PayoutRow {
  id: bigint;
  nodePubkey: string;
  coin: string;
  address: string;
  amount: bigint;
  /** The coin's USD price when the payout was created (decimal string), if known. */
  usdPerUnit: string | null;
  /** `amount` in the coin at that price (decimal string), if known. */
  cryptoAmount: string | null;
  status: PayoutStatus;
  processorPayoutId: string | null;
  txHash: string | null;
  error: string | null;
  automatic: boolean;
  /** `node`: paid from the node's own earnings; `operator`: from the earnings of their claimed nodes. */
  payee: "node" | "operator";
  createdAt: Date;
  finishedAt: Date | null;
  /** How often the processor was asked for this payout's status since it was sent. */
  statusChecks: number;
  /** When a sent payout's status is to be asked for next. */
  nextCheckAt: Date | null;
}

/** Stable codes of refused payout steps. */
export type PayoutErrorCode =
  | "below_minimum"
  | "insufficient_funds"
  | "not_found"
  | "already_finished"
  | "claimed";

/** A payout step that was refused; nothing of it was written. */
export class PayoutError extends Error {
  override name = "PayoutError";
  readonly code: PayoutErrorCode;
  constructor(code: PayoutErrorCode, message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.code = code;
  }
}

export interface PayoutDbRow {
  id: bigint;
  node_pubkey: string;
  coin: string;
  address: string;
  amount: bigint;
  usd_per_unit: string | null;
  crypto_amount: string | null;
  status: PayoutStatus;
  processor_payout_id: string | null;
  tx_hash: string | null;
  error: string | null;
  automatic: boolean;
  payee: "node" | "operator";
  created_at: Date;
  finished_at: Date | null;
  status_checks: number;
  next_check_at: Date | null;
}

export function toPayout(r: PayoutDbRow): PayoutRow {
  return {
    id: r.id,
    nodePubkey: r.node_pubkey,
    coin: r.coin,
    address: r.address,
    amount: r.amount,
    usdPerUnit: r.usd_per_unit,
    cryptoAmount: r.crypto_amount,
    status: r.status,
    processorPayoutId: r.processor_payout_id,
    txHash: r.tx_hash,
    error: r.error,
    automatic: r.automatic,
    payee: r.payee,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
    statusChecks: r.status_checks,
    nextCheckAt: r.next_check_at,
  };
}

/** What a new payout is: who, where, how much (nano-USD), and the rate it was quoted at. */
export interface NewPayout {
  nodePubkey: string;
  coin: string;
  address: string;
  amount: bigint;
  /** Refuse amounts below this (nano-USD). */
  minAmount: bigint;
  usdPerUnit: string | null;
  cryptoAmount: string | null;
  automatic: boolean;
}

/**
 * Creates a payout and, in the same transaction, moves its amount from the operator's earnings
 * to payouts in flight. Throws PayoutError (`below_minimum`, `insufficient_funds`) and writes
 * nothing when the amount is under the minimum or over the earnings balance.
 */
export function createPayout(sql: Sql, p: NewPayout): Promise<PayoutRow> {
  if (p.amount < p.minAmount || p.amount <= 0n) {
    return Promise.reject(
      new PayoutError(
        "below_minimum",
        `payout of ${p.amount} nano-USD is below the minimum of ${p.minAmount}`,
      ),
    );
  }
  return sql.begin(async (tx) => {
    // Lock the earnings account so two requests cannot both see the same balance; in account-id
    // order with payouts in flight, as every ledger writer locks, so that nothing deadlocks.
    const locked = await tx<{ kind: string; balance: bigint }[]>`
      select kind, balance from accounts
      where (kind = 'operator_earnings' and owner = ${p.nodePubkey})
         or (kind = 'payouts_in_flight' and owner = '')
      order by id for update`;
    const [claimed] = await tx<{ operator_pubkey: string }[]>`
      select operator_pubkey from operator_claims where node_pubkey = ${p.nodePubkey} and status = 'active'`;
    if (claimed) {
      throw new PayoutError(
        "claimed",
        `this node is claimed by operator ${claimed.operator_pubkey}; its earnings are paid to the operator`,
      );
    }
    const balance = locked.find((a) => a.kind === "operator_earnings")?.balance ?? 0n;
    if (p.amount > balance) {
      throw new PayoutError(
        "insufficient_funds",
        `payout of ${p.amount} nano-USD is more than the earnings balance of ${balance}`,
      );
    }
    const [row] = await tx<PayoutDbRow[]>`
      insert into payouts (node_pubkey, coin, address, amount, usd_per_unit, crypto_amount, automatic)
      values (${p.nodePubkey}, ${p.coin}, ${p.address}, ${p.amount}, ${p.usdPerUnit}, ${p.cryptoAmount},
              ${p.automatic})
      returning *`;
    try {
      await postTransaction(tx, {
        idempotencyKey: `payout:${row.id}`,
        kind: "payout",
        payoutId: row.id,
        postings: [
          { account: operatorEarnings(p.nodePubkey), amount: -p.amount },
          { account: PAYOUTS_IN_FLIGHT, amount: p.amount },
        ],
      });
    } catch (err) {
      if (err instanceof LedgerError && err.code === "insufficient_funds") {
        throw new PayoutError("insufficient_funds", err.message, { cause: err });
      }
      throw err;
    }
    return toPayout(row);
  });
}

async function lockPayout(tx: Tx, id: bigint): Promise<PayoutRow> {
  const [row] = await tx<PayoutDbRow[]>`select * from payouts where id = ${id} for update`;
  if (!row) throw new PayoutError("not_found", `no payout ${id}`);
  return toPayout(row);
}

/**
 * Records that the processor accepted an open payout and is sending it (status `sent`), to be
 * checked at `nextCheckAt` (default: now).
 */
export function markPayoutSent(
  sql: Sql,
  id: bigint,
  opts: { processorPayoutId: string | null; nextCheckAt?: Date },
): Promise<PayoutRow> {
  return sql.begin(async (tx) => {
    const p = await lockPayout(tx, id);
    if (p.status !== "requested" && p.status !== "sent") return p;
    const [row] = await tx<PayoutDbRow[]>`
      update payouts set status = 'sent',
        processor_payout_id = coalesce(${opts.processorPayoutId}, processor_payout_id),
        next_check_at = coalesce(next_check_at, ${opts.nextCheckAt ?? new Date()})
      where id = ${id} returning *`;
    return toPayout(row);
  });
}

/**
 * Records one status check of a sent payout that is not final yet: counted, and the next one put
 * off to `nextCheckAt`. A payout that is no longer `sent` is returned as it is.
 */
export async function recordPayoutCheck(sql: Sql, id: bigint, nextCheckAt: Date): Promise<PayoutRow> {
  const [row] = await sql<PayoutDbRow[]>`
    update payouts set status_checks = status_checks + 1, next_check_at = ${nextCheckAt}
    where id = ${id} and status = 'sent' returning *`;
  if (row) return toPayout(row);
  const now = await findPayout(sql, id);
  if (!now) throw new PayoutError("not_found", `no payout ${id}`);
  return now;
}

/**
 * Records a paid payout: moves its amount from payouts in flight to processor clearing
 * (`payout_sent:<id>`). Completing a completed payout changes nothing; a failed one is refused.
 */
export function markPayoutCompleted(
  sql: Sql,
  id: bigint,
  opts: { processorPayoutId?: string | null; txHash: string | null },
): Promise<PayoutRow> {
  return sql.begin(async (tx) => {
    const p = await lockPayout(tx, id);
    if (p.status === "completed") return p;
    if (p.status === "failed") {
      throw new PayoutError("already_finished", `payout ${id} was reversed; it cannot complete`);
    }
    await postTransaction(tx, {
      idempotencyKey: `payout_sent:${id}`,
      kind: "payout_sent",
      payoutId: id,
      postings: [
        { account: PAYOUTS_IN_FLIGHT, amount: -p.amount },
        { account: PROCESSOR_CLEARING, amount: p.amount },
      ],
    });
    const [row] = await tx<PayoutDbRow[]>`
      update payouts set status = 'completed', tx_hash = ${opts.txHash},
        processor_payout_id = coalesce(${opts.processorPayoutId ?? null}, processor_payout_id),
        finished_at = now()
      where id = ${id} returning *`;
    return toPayout(row);
  });
}

/**
 * Records a failed payout: moves its amount back from payouts in flight to the operator's
 * earnings (`payout_reversed:<id>`). Failing a failed payout changes nothing; a completed one is
 * refused (its money has left).
 */
export function failPayout(sql: Sql, id: bigint, error: string): Promise<PayoutRow> {
  return sql.begin(async (tx) => {
    const p = await lockPayout(tx, id);
    if (p.status === "failed") return p;
    if (p.status === "completed") {
      throw new PayoutError("already_finished", `payout ${id} was paid; it cannot be reversed`);
    }
    // An operator's payout goes back to the nodes it was drawn from, each its own share.
    const sources = p.payee === "operator"
      ? await tx<{ node_pubkey: string; amount: bigint }[]>`
          select node_pubkey, amount from payout_sources where payout_id = ${id} order by node_pubkey`
      : [{ node_pubkey: p.nodePubkey, amount: p.amount }];
    await postTransaction(tx, {
      idempotencyKey: `payout_reversed:${id}`,
      kind: "payout_reversed",
      payoutId: id,
      postings: [
        { account: PAYOUTS_IN_FLIGHT, amount: -p.amount },
        ...sources.map((s) => ({ account: operatorEarnings(s.node_pubkey), amount: s.amount })),
      ],
    });
    const [row] = await tx<PayoutDbRow[]>`
      update payouts set status = 'failed', error = ${error}, finished_at = now()
      where id = ${id} returning *`;
    return toPayout(row);
  });
}

/** One payout by id. */
export async function findPayout(sql: Sql, id: bigint): Promise<PayoutRow | null> {
  const [row] = await sql<PayoutDbRow[]>`select * from payouts where id = ${id}`;
  return row ? toPayout(row) : null;
}

/** A node's payouts (or, with `payee: "operator"`, an operator's), newest first. */
export async function listPayouts(
  sql: Sql,
  nodePubkey: string,
  opts: { limit?: number; payee?: "node" | "operator" } = {},
): Promise<PayoutRow[]> {
  const rows = await sql<PayoutDbRow[]>`
    select * from payouts where node_pubkey = ${nodePubkey} and payee = ${opts.payee ?? "node"}
    order by created_at desc, id desc limit ${opts.limit ?? 100}`;
  return rows.map(toPayout);
}

/**
 * Payouts not yet paid or reversed (`requested`, `sent`, or only the one `status`), oldest
 * first, for the retry sweep.
 */
export async function openPayouts(
  sql: Sql,
  opts: { createdBefore?: Date; status?: "requested" | "sent"; limit?: number } = {},
): Promise<PayoutRow[]> {
  const before = opts.createdBefore ?? null;
  const statuses = opts.status ? [opts.status] : ["requested", "sent"];
  const rows = await sql<PayoutDbRow[]>`
    select * from payouts
    where status in ${sql(statuses)} and (${before}::timestamptz is null or created_at < ${before})
    order by created_at, id limit ${opts.limit ?? 100}`;
  return rows.map(toPayout);
}

/** Sent payouts whose next status check is due at `now`, the longest waiting first. */
export async function payoutsDueCheck(
  sql: Sql,
  opts: { now?: Date; limit?: number } = {},
): Promise<PayoutRow[]> {
  const rows = await sql<PayoutDbRow[]>`
    select * from payouts
    where status = 'sent' and (next_check_at is null or next_check_at <= ${opts.now ?? new Date()})
    order by next_check_at nulls first, id limit ${opts.limit ?? 100}`;
  return rows.map(toPayout);
}

/**
 * Nodes due an automatic payout: earnings at least `minBalance` (nano-USD), a payout address,
 * no payout still open, and no operator that has claimed them (the operator is paid instead).
 */
export async function operatorsDueAutomaticPayout(sql: Sql, minBalance: bigint): Promise<string[]> {
  const rows = await sql<{ owner: string }[]>`
    select a.owner from accounts a
    where a.kind = 'operator_earnings' and a.balance >= ${minBalance}
      and exists (select 1 from payout_addresses pa where pa.node_pubkey = a.owner)
      and not exists (
        select 1 from payouts p
        where p.node_pubkey = a.owner and p.payee = 'node' and p.status in ('requested', 'sent'))
      and not exists (
        select 1 from operator_claims oc where oc.node_pubkey = a.owner and oc.status = 'active')
    order by a.balance desc`;
  return rows.map((r) => r.owner);
}
