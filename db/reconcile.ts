// Reconciliation: every invariant the ledger promises, checked from the stored rows alone. Each
// check is one query that returns the rows breaking it; an empty result is a clean ledger.
import type { Sql } from "./client.ts";

/** One broken invariant, with the rows that break it. */
export interface Discrepancy {
  check: string;
  detail: string;
}

/** Options for {@link reconcile}. */
export interface ReconcileOptions {
  /** A hold open longer than this is reported as stuck (no job runs that long). */
  stuckHoldMs?: number;
}

type Row = Record<string, unknown>;

function describe(row: Row): string {
  return Object.entries(row).map(([k, v]) => `${k}=${v instanceof Date ? v.toISOString() : String(v)}`)
    .join(" ");
}

/** Runs every check; returns the discrepancies found (none: the ledger is consistent). */
export async function reconcile(sql: Sql, opts: ReconcileOptions = {}): Promise<Discrepancy[]> {
  const stuckSec = (opts.stuckHoldMs ?? 11 * 60_000) / 1000;
  const checks: [string, Promise<Row[]>][] = [
    [
      "a ledger transaction's postings do not sum to zero (or it has fewer than two)",
      sql`select t.idempotency_key, coalesce(sum(p.amount), 0)::text as sum, count(p.id)::int as postings
          from ledger_transactions t left join postings p on p.transaction_id = t.id
          group by t.id having coalesce(sum(p.amount), 0) <> 0 or count(p.id) < 2`,
    ],
    [
      "an account's balance differs from the sum of its postings",
      sql`select a.kind, a.owner, a.balance::text, coalesce(sum(p.amount), 0)::text as postings
          from accounts a left join postings p on p.account_id = a.id
          group by a.id having a.balance <> coalesce(sum(p.amount), 0)`,
    ],
    [
      "an account other than processor clearing is negative",
      sql`select kind, owner, balance::text from accounts
          where balance < 0 and kind <> 'processor_clearing'`,
    ],
    [
      "the balances of all accounts do not sum to zero",
      sql`select sum(balance)::text as total from accounts having sum(balance) <> 0`,
    ],
    [
      "a consumer's holds differ from the holds of their unsettled jobs and open leases",
      sql`select a.owner as api_key_id, a.balance::text as holds, coalesce(o.open, 0)::text as open_reserved,
            coalesce(l.held, 0)::text as leased
          from accounts a
          left join (select api_key_id::text as owner, sum(reserved) as open from job_charges
                     where settled_at is null group by api_key_id) o on o.owner = a.owner
          left join (select api_key_id::text as owner, sum(held) as held from balance_leases
                     where released_at is null group by api_key_id) l on l.owner = a.owner
          where a.kind = 'consumer_holds' and a.balance <> coalesce(o.open, 0) + coalesce(l.held, 0)`,
    ],
    [
      "a job's hold has no reserve transaction of its amount",
      sql`select jc.job_id, jc.reserved::text from job_charges jc
          where jc.lease_id is null and not exists (
            select 1 from ledger_transactions t
            join postings p on p.transaction_id = t.id
            join accounts a on a.id = p.account_id and a.kind = 'consumer_holds'
            where t.idempotency_key = 'reserve:' || jc.job_id and p.amount = jc.reserved)`,
    ],
    [
      "a lease holds other than its top-ups minus its releases and the charges of its jobs",
      sql`select l.id, l.held::text, coalesce(m.moved, 0)::text as moved, coalesce(c.charged, 0)::text as charged
          from balance_leases l
          left join (select t.job_id, sum(p.amount) as moved from ledger_transactions t
                     join postings p on p.transaction_id = t.id
                     join accounts a on a.id = p.account_id and a.kind = 'consumer_holds'
                     where t.kind in ('reserve', 'release') group by t.job_id) m on m.job_id = l.id
          left join (select lease_id, sum(charged) as charged from job_charges
                     where lease_id is not null group by lease_id) c on c.lease_id = l.id
          where l.held <> coalesce(m.moved, 0) - coalesce(c.charged, 0)`,
    ],
    [
      "a job is settled without a settle transaction, or the other way round",
      // A plain job's is its own ('settle:<job>'); a lease job charged something points at its
      // batch's (settle_tx_id); a lease job charged nothing moved no money and has none.
      sql`select jc.job_id, jc.settled_at, coalesce(t.id, jc.settle_tx_id) as settle_tx from job_charges jc
          left join ledger_transactions t on jc.lease_id is null and t.idempotency_key = 'settle:' || jc.job_id
          where (jc.settled_at is not null and (jc.lease_id is null or jc.charged > 0))
             <> (case when jc.lease_id is null then t.id else jc.settle_tx_id end is not null)`,
    ],
    [
      "a settled charge is not the job's cost (capped at its hold) or its split is wrong",
      // The split is migration 0012's platform_fee_of, checked against shared's splitFee in
      // db/fee_split_test.ts, so sharing it with settleJobs does not blind this check.
      sql`select job_id, charged::text, reserved::text, operator_share::text, platform_fee::text
          from job_charges
          where settled_at is not null and (
            charged <> least(reserved, case when node_pubkey is null then 0 else
              (prompt_tokens::bigint * prompt_price_per_1k + completion_tokens::bigint * completion_price_per_1k
               + 999) / 1000 end)
            or platform_fee <> platform_fee_of(charged, fee_bps)
            or operator_share <> charged - platform_fee)`,
    ],
    [
      "a settle transaction's postings do not match the charges it settled",
      // Per transaction and account: what its charges say should have moved against what its
      // postings moved (a transaction with no charge, or a charge whose postings are missing, shows).
      // The rule is restated here rather than shared with settleJobs: a checker that ran the
      // writer's own SQL could not catch the writer's mistakes.
      sql`with settled as (
            select t.id as tx, jc.* from job_charges jc
            join ledger_transactions t on t.idempotency_key = 'settle:' || jc.job_id
            where jc.lease_id is null
            union all
            select jc.settle_tx_id, jc.* from job_charges jc
            where jc.lease_id is not null and jc.settle_tx_id is not null
          ), expected as (
            select s.tx, v.kind, v.owner, sum(v.amount) as amount
            from settled s cross join lateral (values
              ('consumer_holds'::text, s.api_key_id::text,
                case when s.lease_id is null then -s.reserved else -s.charged end),
              ('consumer_balance', s.api_key_id::text,
                case when s.lease_id is null then s.reserved - s.charged else 0 end),
              ('operator_earnings', s.node_pubkey, s.operator_share),
              ('platform_fees', '', s.platform_fee)
            ) as v(kind, owner, amount)
            where v.owner is not null
            group by 1, 2, 3
          ), posted as (
            select p.transaction_id as tx, a.kind, a.owner, sum(p.amount) as amount
            from postings p
            join ledger_transactions t on t.id = p.transaction_id and t.kind in ('settle', 'settle_batch')
            join accounts a on a.id = p.account_id
            group by 1, 2, 3
          )
          select t.idempotency_key, coalesce(e.kind, p.kind) as kind, coalesce(e.owner, p.owner) as owner,
            coalesce(e.amount, 0)::text as expected, coalesce(p.amount, 0)::text as posted
          from expected e
          full join posted p on p.tx = e.tx and p.kind = e.kind and p.owner = e.owner
          left join ledger_transactions t on t.id = coalesce(e.tx, p.tx)
          where coalesce(e.amount, 0) <> coalesce(p.amount, 0)`,
    ],
    [
      "a completed job was never charged",
      sql`select j.id, j.prompt_tokens, j.completion_tokens from jobs j
          left join job_charges jc on jc.job_id = j.id
          where j.status = 'completed' and j.api_key_id is not null
            and (jc.job_id is null or jc.settled_at is null
                 or (jc.charged = 0 and j.prompt_tokens + j.completion_tokens > 0))`,
    ],
    [
      "a job was charged but has no job record",
      sql`select jc.job_id, jc.charged::text from job_charges jc
          left join jobs j on j.id = jc.job_id
          where jc.settled_at is not null and jc.charged > 0 and j.id is null`,
    ],
    [
      "a hold has stayed open longer than any job may run",
      sql`select job_id, reserved::text, reserved_at from job_charges
          where settled_at is null and reserved_at < now() - ${stuckSec} * interval '1 second'`,
    ],
    [
      "a balance lease has not been renewed for longer than any job may run",
      sql`select id, held::text, renewed_at from balance_leases
          where released_at is null and renewed_at < now() - ${stuckSec} * interval '1 second'`,
    ],
    [
      "a deposit's credit does not match the ledger (credited without a deposit, or the reverse)",
      sql`select p.id, p.status, p.credited_at, t.id as deposit_tx from payments p
          left join ledger_transactions t on t.idempotency_key = 'deposit:' || p.id
          where (p.credited_at is null) <> (t.id is null)
             or (p.status in ('confirmed', 'forwarded') and p.credited_at is null)`,
    ],
    [
      "a deposit credited a different amount than the payment says was paid",
      sql`select pay.id, pay.paid_amount::text, p.amount::text as credited from payments pay
          join ledger_transactions t on t.idempotency_key = 'deposit:' || pay.id
          join postings p on p.transaction_id = t.id
          join accounts a on a.id = p.account_id and a.kind = 'consumer_balance'
          where p.amount is distinct from pay.paid_amount or a.owner <> pay.api_key_id::text`,
    ],
    [
      "a payout's status does not match its ledger movements",
      sql`select po.id, po.status,
            exists (select 1 from ledger_transactions t where t.idempotency_key = 'payout:' || po.id) as moved,
            exists (select 1 from ledger_transactions t where t.idempotency_key = 'payout_sent:' || po.id) as sent,
            exists (select 1 from ledger_transactions t where t.idempotency_key = 'payout_reversed:' || po.id)
              as reversed
          from payouts po
          where not (
            (po.status in ('requested', 'sent') and
              exists (select 1 from ledger_transactions t where t.idempotency_key = 'payout:' || po.id) and
              not exists (select 1 from ledger_transactions t
                          where t.idempotency_key in ('payout_sent:' || po.id, 'payout_reversed:' || po.id)))
            or (po.status = 'completed' and
              exists (select 1 from ledger_transactions t where t.idempotency_key = 'payout_sent:' || po.id) and
              not exists (select 1 from ledger_transactions t where t.idempotency_key = 'payout_reversed:' || po.id))
            or (po.status = 'failed' and
              not exists (select 1 from ledger_transactions t where t.idempotency_key = 'payout_sent:' || po.id) and
              (exists (select 1 from ledger_transactions t where t.idempotency_key = 'payout_reversed:' || po.id)
               or not exists (select 1 from ledger_transactions t where t.idempotency_key = 'payout:' || po.id))))`,
    ],
    [
      "processor clearing is not −(deposits credited) + (payouts completed)",
      sql`select a.balance::text as clearing, d.total::text as deposits, o.total::text as payouts
          from accounts a,
            (select coalesce(sum(paid_amount), 0) as total from payments where credited_at is not null) d,
            (select coalesce(sum(amount), 0) as total from payouts where status = 'completed') o
          where a.kind = 'processor_clearing' and a.owner = '' and a.balance <> o.total - d.total`,
    ],
    [
      "platform fees differ from the fees of settled charges less the canaries funded from them",
      sql`select a.balance::text as fees, c.total::text as charged_fees, f.total::text as canary_funding
          from accounts a,
            (select coalesce(sum(platform_fee), 0) as total from job_charges where settled_at is not null) c,
            (select coalesce(sum(-p.amount), 0) as total from postings p
               join ledger_transactions t on t.id = p.transaction_id and t.kind = 'canary_funding'
               join accounts fa on fa.id = p.account_id and fa.kind = 'platform_fees') f
          where a.kind = 'platform_fees' and a.owner = '' and a.balance <> c.total - f.total`,
    ],
    [
      "a canary funding moved money other than platform fees to the platform's canary key",
      sql`select t.idempotency_key, a.kind, a.owner, p.amount::text from ledger_transactions t
          join postings p on p.transaction_id = t.id
          join accounts a on a.id = p.account_id
          where t.kind = 'canary_funding' and not (
            (a.kind = 'platform_fees' and a.owner = '' and p.amount < 0) or
            (a.kind = 'consumer_balance' and p.amount > 0 and
             a.owner in (select id::text from api_keys where platform)))`,
    ],
  ];
  checks.push(...voucherChecks(sql, stuckSec));
  const out: Discrepancy[] = [];
  for (const [check, query] of checks) {
    for (const row of await query) out.push({ check, detail: describe(row) });
  }
  return out;
}

/**
 * The vouchers' invariants (migration 0018): each key's voucher account holds exactly its issued
 * vouchers; each batch's hold is its vouchers' total; a redeemed voucher was reserved and settled
 * as its job (so the settlement checks above cover its charge); an expired one went back whole;
 * none outlives its expiry unreleased for long.
 */
function voucherChecks(sql: Sql, stuckSec: number): [string, Promise<Row[]>][] {
  return [
    [
      "a consumer's voucher holds differ from the maxima of their issued vouchers",
      sql`select a.owner as api_key_id, a.balance::text as held, coalesce(v.open, 0)::text as issued
          from accounts a
          left join (select api_key_id::text as owner, sum(max_nano) as open from vouchers
                     where status = 'issued' group by api_key_id) v on v.owner = a.owner
          where a.kind = 'consumer_vouchers' and a.balance <> coalesce(v.open, 0)
          union all
          select v.api_key_id::text, '0', sum(v.max_nano)::text from vouchers v
          where v.status = 'issued' and not exists (
            select 1 from accounts a where a.kind = 'consumer_vouchers' and a.owner = v.api_key_id::text)
          group by v.api_key_id`,
    ],
    [
      "a voucher batch's hold is not the sum of its vouchers' maxima",
      sql`select b.api_key_id::text, b.batch, b.total::text, coalesce(p.amount, 0)::text as held
          from (select api_key_id, batch, sum(max_nano) as total from vouchers group by 1, 2) b
          left join ledger_transactions t
            on t.idempotency_key = 'voucher_hold:' || b.api_key_id || ':' || b.batch and t.kind = 'voucher_hold'
          left join postings p on p.transaction_id = t.id
            and p.account_id = (select id from accounts where kind = 'consumer_vouchers'
                                and owner = b.api_key_id::text)
          where p.amount is distinct from b.total`,
    ],
    [
      "a voucher hold or release moved money no voucher accounts for",
      sql`select t.idempotency_key, t.kind from ledger_transactions t
          where (t.kind = 'voucher_hold' and not exists (
                   select 1 from vouchers v where t.idempotency_key = 'voucher_hold:' || v.api_key_id || ':' || v.batch))
             or (t.kind = 'voucher_release' and not exists (
                   select 1 from vouchers v where t.idempotency_key = 'voucher_release:' || v.id
                   and v.status = 'expired'))`,
    ],
    [
      "a voucher's status does not match its ledger movements",
      // Redeemed: reserved at its max and settled as its job, charging what it says. Expired:
      // released whole, never reserved. Issued: neither.
      sql`select v.id, v.status, v.max_nano::text, v.redeemed_nano::text, jc.reserved::text, jc.charged::text,
            r.id as reserve_tx, rel.amount::text as released
          from vouchers v
          left join job_charges jc on jc.job_id = v.id
          left join ledger_transactions r on r.idempotency_key = 'reserve:' || v.id
          left join (select t.idempotency_key, p.amount from ledger_transactions t
                     join postings p on p.transaction_id = t.id
                     join accounts a on a.id = p.account_id and a.kind = 'consumer_balance'
                     where t.kind = 'voucher_release') rel on rel.idempotency_key = 'voucher_release:' || v.id
          where case v.status
            when 'redeemed' then not (jc.settled_at is not null and jc.reserved = v.max_nano
              and jc.charged = v.redeemed_nano and jc.node_pubkey = v.node_pubkey and r.id is not null
              and rel.amount is null)
            when 'expired' then not (rel.amount is not distinct from v.max_nano and jc.job_id is null
              and r.id is null)
            else jc.job_id is not null or r.id is not null or rel.amount is not null
          end`,
    ],
    [
      "a voucher has stayed issued long past its expiry (its hold was never released)",
      sql`select id, max_nano::text, expires_at from vouchers
          where status = 'issued' and expires_at < now() - ${stuckSec} * interval '1 second'`,
    ],
  ];
}
