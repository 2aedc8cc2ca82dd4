// Spending vouchers in the ledger (migration 0018): issuing holds a batch's total in the key's
// voucher account; redeeming turns one voucher's max into a job's hold and settles it exactly as a
// job is settled (settleJobs: charge capped at the hold, fee split, the rest back to the balance);
// a voucher past its expiry goes back to the balance. Each is one database transaction, keyed so a
// retry moves nothing twice.
import type { Sql } from "./client.ts";
import {
  consumerBalance,
  consumerHolds,
  consumerVouchers,
  LedgerError,
  postTransaction,
  type Tx,
} from "./ledger.ts";
import { type SettledCharge, settleJobs } from "./charges.ts";
import type { JobRow } from "./jobs.ts";

/** A voucher to store with its batch: the fields it was signed with, and the signed event (JSON). */
export interface NewVoucher {
  id: string;
  consumer: string;
  maxNano: bigint;
  expiresAtS: number;
  event: string;
}

/** A voucher as stored. */
export interface VoucherRow {
  id: string;
  apiKeyId: bigint;
  batch: string;
  consumer: string;
  maxNano: bigint;
  expiresAt: Date;
  status: "issued" | "redeemed" | "expired";
  redeemedNano: bigint | null;
  nodePubkey: string | null;
  jobId: string | null;
  receiptId: string | null;
  event: string;
}

// deno-lint-ignore no-explicit-any
function rowOf(r: any): VoucherRow {
  return {
    id: r.id,
    apiKeyId: r.api_key_id,
    batch: r.batch,
    consumer: r.consumer,
    maxNano: r.max_nano,
    expiresAt: r.expires_at,
    status: r.status,
    redeemedNano: r.redeemed_nano,
    nodePubkey: r.node_pubkey,
    jobId: r.job_id,
    receiptId: r.receipt_id,
    event: r.event,
  };
}

/** The ledger key of a batch's hold. */
export function voucherHoldKey(apiKeyId: bigint, batch: string): string {
  return `voucher_hold:${apiKeyId}:${batch}`;
}

/**
 * Holds the batch's total against the key's balance and stores its vouchers, in one transaction.
 * A batch already issued (same key and batch name) moves nothing and answers its stored vouchers
 * with `applied: false` (the caller compares them with what was asked). Throws LedgerError
 * `insufficient_funds` when the balance cannot cover the total; nothing is then written.
 */
export async function issueVouchers(
  sql: Sql,
  batch: { apiKeyId: bigint; name: string; vouchers: NewVoucher[] },
): Promise<{ applied: boolean; vouchers: VoucherRow[] }> {
  if (batch.vouchers.length === 0) throw new LedgerError("invalid_entry", "a batch has vouchers");
  const total = batch.vouchers.reduce((s, v) => s + v.maxNano, 0n);
  return await sql.begin(async (tx) => {
    const { applied } = await postTransaction(tx, {
      idempotencyKey: voucherHoldKey(batch.apiKeyId, batch.name),
      kind: "voucher_hold",
      postings: [
        { account: consumerBalance(batch.apiKeyId), amount: -total },
        { account: consumerVouchers(batch.apiKeyId), amount: total },
      ],
    });
    if (applied) {
      const v = batch.vouchers;
      await tx`
        insert into vouchers (id, api_key_id, batch, consumer, max_nano, expires_at, event)
        select d.id, ${batch.apiKeyId.toString()}::bigint, ${batch.name}, d.consumer, d.max_nano,
          to_timestamp(d.expires_at), d.event
        from unnest(${v.map((x) => x.id)}::text[], ${v.map((x) => x.consumer)}::text[],
          ${v.map((x) => x.maxNano.toString())}::bigint[], ${v.map((x) => x.expiresAtS)}::bigint[],
          ${v.map((x) => x.event)}::text[]) as d(id, consumer, max_nano, expires_at, event)`;
    }
    const rows = await tx`
      select * from vouchers where api_key_id = ${batch.apiKeyId.toString()} and batch = ${batch.name}
      order by created_at, id`;
    return { applied, vouchers: rows.map(rowOf) };
  });
}

/** One voucher by id (null when unknown). */
export async function findVoucher(sql: Sql | Tx, id: string): Promise<VoucherRow | null> {
  const [r] = await sql`select * from vouchers where id = ${id}`;
  return r ? rowOf(r) : null;
}

/** A key's vouchers, newest first (at most `limit`). */
export async function listVouchers(sql: Sql, apiKeyId: bigint, limit = 100): Promise<VoucherRow[]> {
  const rows = await sql`
    select * from vouchers where api_key_id = ${apiKeyId.toString()}
    order by created_at desc, id limit ${limit}`;
  return rows.map(rowOf);
}

/** What a node asks to be paid for one voucher's job, from its verified receipt and prices. */
export interface VoucherRedemption {
  voucherId: string;
  nodePubkey: string;
  /** The job as the node's receipt names it, and the receipt's event id. */
  jobId: string;
  receiptId: string;
  kind: "chat" | "embeddings";
  model: string;
  promptTokens: number;
  completionTokens: number;
  promptPer1k: bigint;
  completionPer1k: bigint;
  feeBps: number;
  /** The job's cost before the cap (shared/pricing's jobCost of the tokens and prices). */
  cost: bigint;
  durationMs: number;
  /** Unix seconds now: a voucher is redeemable until its expires_at, inclusive. */
  nowS: number;
}

/** Why a redemption was refused (nothing was written). */
export type RedeemRefusal = "voucher_unknown" | "voucher_redeemed" | "voucher_expired";

/** A redemption's outcome. */
export type RedeemResult =
  | { ok: true; voucher: VoucherRow; charge: SettledCharge }
  | { ok: false; code: RedeemRefusal; voucher: VoucherRow | null };

/**
 * Redeems one voucher in one transaction: its max becomes the job's hold (`reserve:<voucher id>`,
 * voucher account → holds) and the job is recorded and settled by settleJobs, so the charge is
 * min(cost, max) split as every job's is and the rest goes back to the balance. Refused, with
 * nothing written, when the voucher is unknown, already redeemed, or expired.
 */
export async function redeemVoucher(sql: Sql, r: VoucherRedemption): Promise<RedeemResult> {
  return await sql.begin(async (tx): Promise<RedeemResult> => {
    const [row] = await tx`select * from vouchers where id = ${r.voucherId} for update`;
    if (!row) return { ok: false, code: "voucher_unknown", voucher: null };
    const v = rowOf(row);
    if (v.status === "redeemed") return { ok: false, code: "voucher_redeemed", voucher: v };
    if (v.status === "expired" || r.nowS > Math.floor(v.expiresAt.getTime() / 1000)) {
      return { ok: false, code: "voucher_expired", voucher: v };
    }
    await postTransaction(tx, {
      idempotencyKey: `reserve:${v.id}`,
      kind: "reserve",
      jobId: v.id,
      postings: [
        { account: consumerVouchers(v.apiKeyId), amount: -v.maxNano },
        { account: consumerHolds(v.apiKeyId), amount: v.maxNano },
      ],
    });
    await tx`
      insert into job_charges (job_id, api_key_id, reserved)
      values (${v.id}, ${v.apiKeyId.toString()}, ${v.maxNano.toString()})`;
    const now = new Date(r.nowS * 1000);
    const job: JobRow = {
      id: v.id,
      apiKeyId: v.apiKeyId,
      kind: r.kind,
      model: r.model,
      nodePubkey: r.nodePubkey,
      stream: false,
      status: "completed",
      attempts: 1,
      errorCode: null,
      enginePromptTokens: r.promptTokens,
      engineCompletionTokens: r.completionTokens,
      countedPromptTokens: null,
      countedCompletionTokens: null,
      promptTokens: r.promptTokens,
      completionTokens: r.completionTokens,
      ttftMs: null,
      latencyMs: r.durationMs,
      createdAt: new Date(now.getTime() - r.durationMs),
      finishedAt: now,
    };
    const [charge] = await settleJobs(tx, [{
      jobId: v.id,
      nodePubkey: r.nodePubkey,
      promptTokens: r.promptTokens,
      completionTokens: r.completionTokens,
      promptPer1k: r.promptPer1k,
      completionPer1k: r.completionPer1k,
      feeBps: r.feeBps,
      cost: r.cost,
    }], [job]);
    if (!charge) throw new LedgerError("invalid_entry", `voucher ${v.id} was not settled`);
    const [done] = await tx`
      update vouchers set status = 'redeemed', redeemed_nano = ${charge.charged.toString()},
        node_pubkey = ${r.nodePubkey}, job_id = ${r.jobId}, receipt_id = ${r.receiptId}, finished_at = now()
      where id = ${v.id}
      returning *`;
    return { ok: true, voucher: rowOf(done), charge };
  });
}

/**
 * Gives back the holds of vouchers past their expiry and never redeemed (`voucher_release:<id>`,
 * voucher account → balance), at most `limit` per call, each once. Returns how many.
 */
export async function releaseExpiredVouchers(sql: Sql, nowS: number, limit = 1000): Promise<number> {
  return await sql.begin(async (tx) => {
    const rows = await tx`
      select * from vouchers
      where status = 'issued' and expires_at < to_timestamp(${nowS})
      order by expires_at, id limit ${limit}
      for update skip locked`;
    for (const r of rows.map(rowOf)) {
      await postTransaction(tx, {
        idempotencyKey: `voucher_release:${r.id}`,
        kind: "voucher_release",
        jobId: r.id,
        postings: [
          { account: consumerVouchers(r.apiKeyId), amount: -r.maxNano },
          { account: consumerBalance(r.apiKeyId), amount: r.maxNano },
        ],
      });
    }
    if (rows.length > 0) {
      await tx`
        update vouchers set status = 'expired', finished_at = now()
        where id = any(${rows.map((r) => r.id as string)}::text[])`;
    }
    return rows.length;
  });
}
