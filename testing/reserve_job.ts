// The per-job hold the ledger took before balance leases (db/leases.ts): one statement that debits
// the key's balance into its holds and writes the job's charge row. The product reserves through
// leases now, but settleJobs still settles charges held this way (older rows, replayed journals),
// so the ledger's tests make them with this.
import type { Sql } from "../db/mod.ts";

/** The outcome of a reservation: held, or refused with what the key has available. */
export type ReserveResult = { ok: true } | { ok: false; available: bigint };

/**
 * Holds `amount` of a key's balance for a job, in one statement: the balance is debited only if
 * it covers the amount (checked against the latest committed value), and the holds account, the
 * reserve transaction, its postings and the job's charge row are written with it — or nothing.
 */
export async function reserveJob(
  sql: Sql,
  r: { jobId: string; apiKeyId: bigint; amount: bigint },
): Promise<ReserveResult> {
  if (r.amount <= 0n) throw new RangeError("a reservation must be positive");
  const owner = r.apiKeyId.toString();
  // The debit's own WHERE is the balance check: under READ COMMITTED a concurrent change makes
  // PostgreSQL wait, then re-check it against the latest committed balance, so it cannot
  // overdraw. The holds account is moved only if the debit happened (balance, then holds: the
  // id order every writer locks in).
  const [row] = await sql<{ reserved: bigint }[]>`
    with debit as (
      update accounts set balance = balance - ${r.amount}
      where kind = 'consumer_balance' and owner = ${owner} and balance >= ${r.amount}
      returning id
    ), credit as (
      update accounts set balance = balance + ${r.amount}
      where kind = 'consumer_holds' and owner = ${owner} and exists (select 1 from debit)
      returning id
    ), t as (
      insert into ledger_transactions (idempotency_key, kind, job_id)
      select ${"reserve:" + r.jobId}, 'reserve', ${r.jobId} from debit, credit
      returning id
    ), posted as (
      insert into postings (transaction_id, account_id, amount)
      select t.id, debit.id, -${r.amount}::bigint from t, debit
      union all
      select t.id, credit.id, ${r.amount}::bigint from t, credit
    ), charge as (
      insert into job_charges (job_id, api_key_id, reserved)
      select ${r.jobId}, ${r.apiKeyId}, ${r.amount} from t
    )
    select (select count(*) from t) as reserved,
           -- A debit without its holds account would lose money: fail the whole statement instead.
           1 / (case when (select count(*) from debit) = (select count(*) from credit) then 1 else 0 end) as guard`;
  if (row.reserved > 0n) return { ok: true };
  // Refused: read what is available now (this statement's snapshot may be older than the check).
  const [now] = await sql<{ balance: bigint }[]>`
    select balance from accounts where kind = 'consumer_balance' and owner = ${owner}`;
  return { ok: false, available: now?.balance ?? 0n };
}
