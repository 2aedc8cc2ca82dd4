// An operator's money at a glance for the dashboard and the node API: what is earned and not
// yet paid, in flight and paid, per day (from settled charges) and per coin (from payouts).
import type { Sql } from "./client.ts";
import { accountBalance, operatorEarnings } from "./ledger.ts";

/** What an operator earned on one UTC day. */
export interface EarningsDay {
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  earned: bigint;
  jobs: number;
}

/** What was paid, and is being paid, in one coin. */
export interface EarningsCoin {
  coin: string;
  paid: bigint;
  inFlight: bigint;
  /** The sum of the completed payouts' crypto amounts (decimal string). */
  paidCrypto: string;
}

/** An operator's money at a glance (nano-USD). */
export interface EarningsSummary {
  /** Earned and not yet paid out: the earnings balance. */
  pending: bigint;
  inFlight: bigint;
  paid: bigint;
  /** The last `days` UTC days with earnings, newest first. */
  days: EarningsDay[];
  coins: EarningsCoin[];
}

function trimDecimal(s: string): string {
  return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
}

/** The first UTC midnight of the last `days` (default 30) days up to `now`: the chart's window. */
export function earningsSince(opts: { days?: number; now?: Date } = {}): Date {
  const now = opts.now ?? new Date();
  return new Date(
    Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) -
      ((opts.days ?? 30) - 1) * 86_400_000,
  );
}

/** An operator's earnings: pending, in flight, paid, per day (settled jobs) and per coin. */
export async function earningsSummary(
  sql: Sql,
  nodePubkey: string,
  opts: { days?: number; now?: Date } = {},
): Promise<EarningsSummary> {
  const since = earningsSince(opts);
  const pending = await accountBalance(sql, operatorEarnings(nodePubkey));
  // A settled job's operator share is (part of, for a batch of lease jobs) its settle transaction's
  // credit to the earnings account, on the same timestamp (one statement writes both; reconcile
  // checks they agree), so the days are
  // read from the node's charges (`job_charges_node`) rather than joining each posting to its
  // transaction: half the time on PGlite with 4,500 jobs a month (bench/dashboard_bench.ts).
  const days = await sql<{ day: string; earned: bigint; jobs: bigint }[]>`
    select to_char(settled_at at time zone 'UTC', 'YYYY-MM-DD') as day,
           sum(operator_share)::int8 as earned, count(*)::int8 as jobs
    from job_charges
    where node_pubkey = ${nodePubkey} and settled_at >= ${since} and operator_share > 0
    group by 1 order by 1 desc`;
  return {
    pending,
    ...await payoutTotals(sql, nodePubkey, "node"),
    days: days.map((d) => ({ day: d.day, earned: d.earned, jobs: Number(d.jobs) })),
  };
}

/** A payee's payouts (a node's own, or an operator's) paid and in flight, summed and per coin. */
export async function payoutTotals(
  sql: Sql,
  payeePubkey: string,
  payee: "node" | "operator",
): Promise<Pick<EarningsSummary, "paid" | "inFlight" | "coins">> {
  const coins = await sql<{ coin: string; paid: bigint; in_flight: bigint; paid_crypto: string }[]>`
    select coin,
      coalesce(sum(amount) filter (where status = 'completed'), 0)::int8 as paid,
      coalesce(sum(amount) filter (where status in ('requested', 'sent')), 0)::int8 as in_flight,
      coalesce(sum(crypto_amount::numeric) filter (where status = 'completed'), 0)::text as paid_crypto
    from payouts where node_pubkey = ${payeePubkey} and payee = ${payee}
    group by coin order by coin`;
  const perCoin = coins.map((c) => ({
    coin: c.coin,
    paid: c.paid,
    inFlight: c.in_flight,
    paidCrypto: trimDecimal(c.paid_crypto),
  }));
  return {
    inFlight: perCoin.reduce((s, c) => s + c.inFlight, 0n),
    paid: perCoin.reduce((s, c) => s + c.paid, 0n),
    coins: perCoin.filter((c) => c.paid > 0n || c.inFlight > 0n),
  };
}
