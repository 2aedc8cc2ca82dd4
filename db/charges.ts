// What a job costs the consumer: each job is settled exactly once against the hold taken for it
// (a balance lease's share, web/billing/leases.ts, or a per-job hold made before leases existed):
// the actual cost is charged, the operator and the platform are credited, the rest goes back.
import type { Sql } from "./client.ts";
import { LedgerError, type Tx } from "./ledger.ts";
import { insertJobsQuery, type JobRow } from "./jobs.ts";

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
  /**
   * Set when the job was reserved in memory against a balance lease (no charge row yet): its
   * charge row is written now, and the charge is drawn from the lease (the rest stays in it).
   */
  lease?: { id: string; apiKeyId: bigint; hold: bigint } | null;
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
 * Settles jobs in ONE statement (atomic on its own, or inside the caller's transaction),
 * whatever the batch size: the charge is the cost capped at the hold; the fee is charge × bps /
 * 10,000 rounded down and the operator gets the rest; the unused hold goes back to the balance.
 * Accounts are locked in id order, as every writer does. A job already settled (or never
 * reserved) is skipped, so settling is idempotent; the settled ones are returned.
 * `jobRows` are recorded in the same statement (a job is never settled without its record).
 */
export async function settleJobs(
  sql: Sql | Tx,
  batch: Settlement[],
  jobRows: JobRow[] = [],
): Promise<SettledCharge[]> {
  if (batch.length === 0 && jobRows.length === 0) return [];
  const recordJobs = jobRows.length > 0 ? sql`, j as (${insertJobsQuery(sql, jobRows)} returning 1)` : sql``;
  let rows;
  try {
    rows = await sql<
      {
        job_id: string;
        api_key_id: bigint;
        reserved: bigint;
        charged: bigint;
        operator_share: bigint;
        platform_fee: bigint;
        node_pubkey: string | null;
        guard: number | null;
      }[]
    >`
      with d as (
        select * from unnest(
          ${batch.map((s) => s.jobId)}::text[],
          ${batch.map((s) => s.nodePubkey ?? "")}::text[],
          ${batch.map((s) => s.promptTokens)}::int[],
          ${batch.map((s) => s.completionTokens)}::int[],
          ${batch.map((s) => s.promptPer1k.toString())}::bigint[],
          ${batch.map((s) => s.completionPer1k.toString())}::bigint[],
          ${batch.map((s) => s.feeBps)}::int[],
          ${batch.map((s) => (s.nodePubkey ? s.cost : 0n).toString())}::bigint[],
          ${batch.map((s) => s.lease?.id ?? "")}::text[],
          ${batch.map((s) => (s.lease?.apiKeyId ?? 0n).toString())}::bigint[],
          ${batch.map((s) => (s.lease?.hold ?? 0n).toString())}::bigint[]
        ) as d(job_id, node, pt, ct, pp, cp, bps, cost, lease, key, hold)
      )${recordJobs}, su as (
        update job_charges jc set
          node_pubkey = nullif(d.node, ''),
          prompt_tokens = d.pt,
          completion_tokens = d.ct,
          prompt_price_per_1k = d.pp,
          completion_price_per_1k = d.cp,
          fee_bps = d.bps,
          charged = least(d.cost, jc.reserved),
          platform_fee = platform_fee_of(least(d.cost, jc.reserved), d.bps),
          operator_share = operator_share_of(least(d.cost, jc.reserved), d.bps),
          settled_at = now()
        from d
        where jc.job_id = d.job_id and jc.settled_at is null and d.lease = ''
        returning jc.job_id, jc.api_key_id, jc.reserved, jc.charged, jc.operator_share, jc.platform_fee,
                  jc.node_pubkey, jc.lease_id
      ), b as materialized (
        -- The id of the batch's one transaction for its lease jobs, taken first so that their
        -- charge rows can point at it (the transaction is written below, once they are known).
        select nextval(pg_get_serial_sequence('ledger_transactions', 'id')) as id
      ), ls as (
        -- The leases drawn on, locked first (in id order) and read as last committed: a release
        -- that committed after this statement began is seen, and its lease no longer pays. A
        -- lease, then its key's accounts: the order every writer of a lease locks in.
        select l.id, l.api_key_id from balance_leases l
        where l.id in (select d.lease from d where d.lease <> '') and l.released_at is null
        order by l.id
        for update
      ), si as (
        -- Jobs reserved against a lease get their charge row now (once: the job id is the key);
        -- a lease already released (its instance was given up for dead) no longer pays.
        insert into job_charges (job_id, api_key_id, reserved, lease_id, node_pubkey, prompt_tokens,
          completion_tokens, prompt_price_per_1k, completion_price_per_1k, fee_bps, charged, platform_fee,
          operator_share, settled_at, settle_tx_id)
        select d.job_id, d.key, d.hold, d.lease, nullif(d.node, ''), d.pt, d.ct, d.pp, d.cp, d.bps,
          least(d.cost, d.hold), platform_fee_of(least(d.cost, d.hold), d.bps),
          operator_share_of(least(d.cost, d.hold), d.bps), now(),
          case when least(d.cost, d.hold) > 0 then (select id from b) end
        from d join ls l on l.id = d.lease and l.api_key_id = d.key
        where d.lease <> ''
        on conflict (job_id) do nothing
        returning job_id, api_key_id, reserved, charged, operator_share, platform_fee, node_pubkey, lease_id
      ), s as (
        select * from su union all select * from si
      ), drawn as (
        -- The lease pays the charges; the rest of each job's share stays in it for the next jobs.
        update balance_leases l set held = l.held - g.total
        from (select lease_id, sum(charged)::bigint as total from si group by lease_id) g
        where l.id = g.lease_id and g.total > 0
        returning 1
      ), x as (
        -- The postings: a plain job's go to its own transaction (tx = its id): holds −reserved,
        -- balance +refund, operator +share, platform +fee; the lease jobs' are summed per account
        -- into the batch's one transaction (tx = ''): holds −charged, operator +share, platform
        -- +fee (what is left of a lease job's share stays in the lease). No zeros.
        select case when s.lease_id is null then s.job_id else '' end as tx, v.kind, v.owner,
          sum(v.amount)::bigint as amount
        from s cross join lateral (values
          ('consumer_holds'::text, s.api_key_id::text,
            case when s.lease_id is null then -s.reserved else -s.charged end),
          ('consumer_balance', s.api_key_id::text,
            case when s.lease_id is null then s.reserved - s.charged else 0 end),
          ('operator_earnings', s.node_pubkey, s.operator_share),
          ('platform_fees', '', s.platform_fee)
        ) as v(kind, owner, amount)
        where v.amount <> 0 and v.owner is not null
        group by 1, 2, 3
      ), locked as (
        select a.id, a.kind, a.owner from accounts a
        where (a.kind, a.owner) in (select kind, owner from x)
        order by a.id
        for update
      ), opened as (
        -- An operator's first earnings open their account with them (a positive balance). Should
        -- another writer open it first, nothing is inserted and the guard below fails the batch,
        -- which is then retried with the account in place: never a posting without its account.
        insert into accounts (kind, owner, balance)
        select x.kind, x.owner, sum(x.amount)::bigint from x
        where x.kind = 'operator_earnings'
          and not exists (select 1 from locked l where l.kind = x.kind and l.owner = x.owner)
        group by x.kind, x.owner
        on conflict (kind, owner) do nothing
        returning id, kind, owner
      ), acct as (
        select id, kind, owner from locked union all select id, kind, owner from opened
      ), moved as (
        update accounts a set balance = a.balance + g.total
        from (
          select l.id, sum(x.amount)::bigint as total
          from x join locked l on l.kind = x.kind and l.owner = x.owner
          group by l.id
        ) g
        where a.id = g.id
        returning a.id
      ), tj as (
        insert into ledger_transactions (idempotency_key, kind, job_id)
        select 'settle:' || job_id, 'settle', job_id from s where s.lease_id is null
        returning id, job_id as tx
      ), tb as (
        -- The lease jobs' transaction, keyed by the first of them (a job settles once, so the key
        -- is never reused); none when they were charged nothing.
        insert into ledger_transactions (id, idempotency_key, kind)
        overriding system value
        select b.id, 'settle_batch:' || min(si.job_id), 'settle_batch' from b, si
        where si.charged > 0
        group by b.id
        returning id, ''::text as tx
      ), t as (
        select id, tx from tj union all select id, tx from tb
      ), p as (
        insert into postings (transaction_id, account_id, amount)
        select t.id, c.id, x.amount
        from x join t on t.tx = x.tx join acct c on c.kind = x.kind and c.owner = x.owner
        returning 1
      )
      select s.job_id, s.api_key_id, s.reserved, s.charged, s.operator_share, s.platform_fee, s.node_pubkey,
        -- Every posting must have found its account; otherwise fail the whole statement.
        1 / (case when (select count(*) from x) = (select count(*) from p) then 1 else 0 end) as guard
      from s
      union all
      select null, null, null, null, null, null, null,
        1 / (case when (select count(*) from x) = (select count(*) from p) then 1 else 0 end)
      where not exists (select 1 from s)`;
  } catch (err) {
    if ((err as { code?: string }).code === "22012") {
      throw new LedgerError(
        "invalid_entry",
        "a settlement posting found no ledger account; retry the batch",
        {
          cause: err,
        },
      );
    }
    if ((err as { constraint_name?: string }).constraint_name === "accounts_never_negative") {
      throw new LedgerError("insufficient_funds", "a settlement would take an account below zero", {
        cause: err,
      });
    }
    throw err;
  }
  return rows.filter((r) => r.job_id !== null).map((r) => ({
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
