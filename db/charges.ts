// What a job costs the consumer: the worst case is held before any node works (one statement,
// never overdrawing under concurrency), and each job is settled exactly once: the actual cost is
// charged, the operator and the platform are credited, and the rest of the hold goes back.
import type { Sql } from "./client.ts";
import type { Tx } from "./ledger.ts";

/** The outcome of a reservation: held, or refused with what the key has available. */
export type ReserveResult = { ok: true } | { ok: false; available: bigint };

/**
 * Holds `amount` of a key's balance for a job, in one statement: both consumer accounts are
 * locked in id order, the balance is checked against the latest committed value, and the
 * reserve transaction, its postings and the job's charge row are written together — or nothing.
 */
export async function reserveJob(
  sql: Sql,
  r: { jobId: string; apiKeyId: bigint; amount: bigint },
): Promise<ReserveResult> {
  if (r.amount <= 0n) throw new RangeError("a reservation must be positive");
  const owner = r.apiKeyId.toString();
  const [row] = await sql<{ reserved: bigint; available: bigint | null }[]>`
    with locked as (
      select id, kind, balance from accounts
      where owner = ${owner} and kind in ('consumer_balance', 'consumer_holds')
      order by id
      for update
    ), ok as (
      select 1 from locked b
      where b.kind = 'consumer_balance' and b.balance >= ${r.amount}
        and exists (select 1 from locked h where h.kind = 'consumer_holds')
    ), t as (
      insert into ledger_transactions (idempotency_key, kind, job_id)
      select ${"reserve:" + r.jobId}, 'reserve', ${r.jobId} from ok
      returning id
    ), moved as (
      update accounts a
      set balance = a.balance + case when l.kind = 'consumer_balance' then -${r.amount}::bigint
                                     else ${r.amount}::bigint end
      from locked l, t
      where a.id = l.id
      returning a.id, l.kind
    ), posted as (
      insert into postings (transaction_id, account_id, amount)
      select t.id, m.id, case when m.kind = 'consumer_balance' then -${r.amount}::bigint
                              else ${r.amount}::bigint end
      from t, moved m
    ), charge as (
      insert into job_charges (job_id, api_key_id, reserved)
      select ${r.jobId}, ${r.apiKeyId}, ${r.amount} from t
    )
    select (select count(*) from t) as reserved,
           (select balance from locked where kind = 'consumer_balance') as available`;
  return row.reserved > 0n ? { ok: true } : { ok: false, available: row.available ?? 0n };
}

/** How a job ends, for billing: the node that served it, the tokens billed, and its prices. */
export interface Settlement {
  jobId: string;
  /** The node credited; null when no node did any work (then nothing is charged). */
  nodePubkey: string | null;
  promptTokens: number;
  completionTokens: number;
  promptPer1k: bigint;
  completionPer1k: bigint;
  feeBps: number;
  /** The job's cost before the cap at its hold (see `jobCost` in shared/pricing). */
  cost: bigint;
}

/** A charge as settled. */
export interface SettledCharge {
  jobId: string;
  apiKeyId: bigint;
  reserved: bigint;
  charged: bigint;
  operatorShare: bigint;
  platformFee: bigint;
  nodePubkey: string | null;
}

/**
 * Settles jobs inside the caller's transaction, in a fixed number of statements whatever the
 * batch size. The charge is the cost capped at the hold; the fee is charge × bps / 10,000 rounded
 * down and the operator gets the rest. A job already settled (or never reserved) is skipped, so
 * settling is idempotent; the settled ones are returned.
 */
export async function settleJobs(tx: Tx, batch: Settlement[]): Promise<SettledCharge[]> {
  if (batch.length === 0) return [];
  const rows = await tx<
    {
      job_id: string;
      api_key_id: bigint;
      reserved: bigint;
      charged: bigint;
      operator_share: bigint;
      platform_fee: bigint;
      node_pubkey: string | null;
    }[]
  >`
    update job_charges jc set
      node_pubkey = nullif(d.node, ''),
      prompt_tokens = d.pt,
      completion_tokens = d.ct,
      prompt_price_per_1k = d.pp,
      completion_price_per_1k = d.cp,
      fee_bps = d.bps,
      charged = least(d.cost, jc.reserved),
      platform_fee = least(d.cost, jc.reserved) * d.bps / 10000,
      operator_share = least(d.cost, jc.reserved) - least(d.cost, jc.reserved) * d.bps / 10000,
      settled_at = now()
    from unnest(
      ${batch.map((s) => s.jobId)}::text[],
      ${batch.map((s) => s.nodePubkey ?? "")}::text[],
      ${batch.map((s) => s.promptTokens)}::int[],
      ${batch.map((s) => s.completionTokens)}::int[],
      ${batch.map((s) => s.promptPer1k.toString())}::bigint[],
      ${batch.map((s) => s.completionPer1k.toString())}::bigint[],
      ${batch.map((s) => s.feeBps)}::int[],
      ${batch.map((s) => (s.nodePubkey ? s.cost : 0n).toString())}::bigint[]
    ) as d(job_id, node, pt, ct, pp, cp, bps, cost)
    where jc.job_id = d.job_id and jc.settled_at is null
    returning jc.job_id, jc.api_key_id, jc.reserved, jc.charged, jc.operator_share, jc.platform_fee,
              jc.node_pubkey`;
  if (rows.length === 0) return [];

  // Postings: holds −reserved; balance +refund; operator +share; platform +fee (zeros left out).
  const jobIds: string[] = [];
  const kinds: string[] = [];
  const owners: string[] = [];
  const amounts: string[] = [];
  const post = (jobId: string, kind: string, owner: string, amount: bigint) => {
    if (amount === 0n) return;
    jobIds.push(jobId);
    kinds.push(kind);
    owners.push(owner);
    amounts.push(amount.toString());
  };
  for (const r of rows) {
    const key = r.api_key_id.toString();
    post(r.job_id, "consumer_holds", key, -r.reserved);
    post(r.job_id, "consumer_balance", key, r.reserved - r.charged);
    if (r.node_pubkey) post(r.job_id, "operator_earnings", r.node_pubkey, r.operator_share);
    post(r.job_id, "platform_fees", "", r.platform_fee);
  }
  // The settle transactions and any account not seen before, in one round trip.
  await tx`
    with t as (
      insert into ledger_transactions (idempotency_key, kind, job_id)
      select 'settle:' || j, 'settle', j from unnest(${rows.map((r) => r.job_id)}::text[]) as j
      returning id
    ), a as (
      insert into accounts (kind, owner)
      select distinct * from unnest(${kinds}::text[], ${owners}::text[])
      on conflict (kind, owner) do nothing
      returning id
    )
    select (select count(*) from t) as transactions, (select count(*) from a) as accounts`;
  // Lock in account-id order, as every writer does, so concurrent movements never deadlock.
  await tx`
    select a.id from accounts a
    join (select distinct * from unnest(${kinds}::text[], ${owners}::text[])) as d(kind, owner)
      on a.kind = d.kind and a.owner = d.owner
    order by a.id for update of a`;
  // The postings and the balances they move, in one round trip (two tables, one statement).
  await tx`
    with p as (
      insert into postings (transaction_id, account_id, amount)
      select t.id, a.id, d.amount
      from unnest(${jobIds}::text[], ${kinds}::text[], ${owners}::text[], ${amounts}::bigint[])
        as d(job_id, kind, owner, amount)
      join ledger_transactions t on t.idempotency_key = 'settle:' || d.job_id
      join accounts a on a.kind = d.kind and a.owner = d.owner
      returning 1
    )
    update accounts a set balance = a.balance + s.total
    from (
      select kind, owner, sum(amount)::bigint as total
      from unnest(${kinds}::text[], ${owners}::text[], ${amounts}::bigint[]) as d(kind, owner, amount)
      group by kind, owner
    ) s
    where a.kind = s.kind and a.owner = s.owner`;
  return rows.map((r) => ({
    jobId: r.job_id,
    apiKeyId: r.api_key_id,
    reserved: r.reserved,
    charged: r.charged,
    operatorShare: r.operator_share,
    platformFee: r.platform_fee,
    nodePubkey: r.node_pubkey,
  }));
}

/**
 * Releases holds left open longer than `olderThanMs` (a control plane that died mid-job): the
 * job is settled at zero, so the whole hold returns to the consumer. Returns how many.
 */
export async function releaseStaleHolds(sql: Sql, olderThanMs: number): Promise<number> {
  return await sql.begin(async (tx) => {
    const stale = await tx<{ job_id: string }[]>`
      select job_id from job_charges
      where settled_at is null and reserved_at < now() - ${olderThanMs / 1000} * interval '1 second'
      order by reserved_at limit 1000`;
    const settled = await settleJobs(
      tx,
      stale.map((s) => ({
        jobId: s.job_id,
        nodePubkey: null,
        promptTokens: 0,
        completionTokens: 0,
        promptPer1k: 0n,
        completionPer1k: 0n,
        feeBps: 0,
        cost: 0n,
      })),
    );
    return settled.length;
  });
}

/** A job's charge row (tests, the usage log). */
export async function findJobCharge(
  sql: Sql,
  jobId: string,
): Promise<SettledCharge & { settled: boolean } | null> {
  const [r] = await sql<Record<string, unknown>[]>`select * from job_charges where job_id = ${jobId}`;
  if (!r) return null;
  return {
    jobId: r.job_id as string,
    apiKeyId: r.api_key_id as bigint,
    reserved: r.reserved as bigint,
    charged: (r.charged as bigint | null) ?? 0n,
    operatorShare: (r.operator_share as bigint | null) ?? 0n,
    platformFee: (r.platform_fee as bigint | null) ?? 0n,
    nodePubkey: r.node_pubkey as string | null,
    settled: r.settled_at !== null,
  };
}
