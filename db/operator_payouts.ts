// An operator's money across the nodes they have claimed: one payout address per coin, their
// earnings summed (and per node), and payouts that draw from the nodes' own earnings accounts.
// The per-node accounts stay the ledger's truth; an operator payout is one ledger transaction
// (`payout:<id>`) taking from each node's earnings into payouts in flight, with the shares
// recorded in `payout_sources` so that a reversal returns each node its own.
import type { Sql } from "./client.ts";
import { LedgerError, operatorEarnings, PAYOUTS_IN_FLIGHT, postTransaction, type Tx } from "./ledger.ts";
import { earningsSince, type EarningsSummary, payoutTotals } from "./earnings.ts";
import type { PayoutAddressRow } from "./payout_addresses.ts";
import { type NewPayout, type PayoutDbRow, PayoutError, type PayoutRow, toPayout } from "./payouts.ts";

/** Sets (or replaces) an operator's address for a coin; the caller has validated it. */
export async function setOperatorPayoutAddress(
  sql: Sql,
  a: { operatorPubkey: string; coin: string; address: string },
): Promise<PayoutAddressRow> {
  const [r] = await sql<{ created_at: Date; updated_at: Date }[]>`
    insert into operator_payout_addresses (operator_pubkey, coin, address)
    values (${a.operatorPubkey}, ${a.coin}, ${a.address})
    on conflict (operator_pubkey, coin) do update set address = excluded.address, updated_at = now()
    returning created_at, updated_at`;
  return {
    nodePubkey: a.operatorPubkey,
    coin: a.coin,
    address: a.address,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** An operator's payout addresses, the first one set first (`nodePubkey` holds the operator's key). */
export async function listOperatorPayoutAddresses(
  sql: Sql | Tx,
  operatorPubkey: string,
): Promise<PayoutAddressRow[]> {
  const rows = await sql<{ coin: string; address: string; created_at: Date; updated_at: Date }[]>`
    select coin, address, created_at, updated_at from operator_payout_addresses
    where operator_pubkey = ${operatorPubkey} order by created_at, coin`;
  return rows.map((r) => ({
    nodePubkey: operatorPubkey,
    coin: r.coin,
    address: r.address,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }));
}

/** What a new operator payout is; `requestKey` makes the request idempotent. */
export interface NewOperatorPayout extends Omit<NewPayout, "nodePubkey"> {
  operatorPubkey: string;
  requestKey: string | null;
}

/**
 * Creates an operator payout and, in the same transaction, moves its amount from the earnings of
 * the operator's claimed nodes (largest balance first) to payouts in flight. A request key seen
 * before returns that payout (`created: false`) and moves nothing. Throws PayoutError
 * (`below_minimum`, `insufficient_funds`) and writes nothing when the amount cannot be paid.
 */
export function createOperatorPayout(
  sql: Sql,
  p: NewOperatorPayout,
): Promise<{ payout: PayoutRow; created: boolean }> {
  return sql.begin(async (tx) => {
    // One operator's payout requests run one at a time, so a request key is looked up safely.
    await tx`select pg_advisory_xact_lock(hashtext(${"operator_payout:" + p.operatorPubkey}))`;
    if (p.requestKey !== null) {
      const [seen] = await tx<PayoutDbRow[]>`select * from payouts where request_key = ${p.requestKey}`;
      if (seen) {
        if (seen.node_pubkey !== p.operatorPubkey || seen.payee !== "operator") {
          throw new PayoutError("not_found", "that request key belongs to another payout");
        }
        return { payout: toPayout(seen), created: false };
      }
    }
    if (p.amount < p.minAmount || p.amount <= 0n) {
      throw new PayoutError(
        "below_minimum",
        `payout of ${p.amount} nano-USD is below the minimum of ${p.minAmount}`,
      );
    }
    // The claims are locked so that a revocation waits for this payout (and then ends the link).
    const claims = await tx<{ node_pubkey: string }[]>`
      select node_pubkey from operator_claims
      where operator_pubkey = ${p.operatorPubkey} and status = 'active' order by node_pubkey for update`;
    const nodes = claims.map((c) => c.node_pubkey);
    // Every ledger writer locks accounts in id order; so does this.
    const locked = await tx<{ kind: string; owner: string; balance: bigint }[]>`
      select kind, owner, balance from accounts
      where (kind = 'operator_earnings' and owner = any(${nodes}::text[]))
         or (kind = 'payouts_in_flight' and owner = '')
      order by id for update`;
    const earnings = locked.filter((a) => a.kind === "operator_earnings" && a.balance > 0n)
      .sort((
        a,
        b,
      ) => (b.balance > a.balance ? 1 : b.balance < a.balance ? -1 : a.owner.localeCompare(b.owner)));
    const total = earnings.reduce((s, a) => s + a.balance, 0n);
    if (p.amount > total) {
      throw new PayoutError(
        "insufficient_funds",
        `payout of ${p.amount} nano-USD is more than the claimed nodes' earnings of ${total}`,
      );
    }
    const draws: { node: string; amount: bigint }[] = [];
    let left = p.amount;
    for (const a of earnings) {
      if (left === 0n) break;
      const take = a.balance < left ? a.balance : left;
      draws.push({ node: a.owner, amount: take });
      left -= take;
    }
    const [row] = await tx<PayoutDbRow[]>`
      insert into payouts (node_pubkey, payee, request_key, coin, address, amount, usd_per_unit, crypto_amount,
                           automatic)
      values (${p.operatorPubkey}, 'operator', ${p.requestKey}, ${p.coin}, ${p.address}, ${p.amount},
              ${p.usdPerUnit}, ${p.cryptoAmount}, ${p.automatic})
      returning *`;
    const drawNodes = draws.map((d) => d.node);
    const drawAmounts = draws.map((d) => d.amount.toString());
    await tx`
      insert into payout_sources (payout_id, node_pubkey, amount)
      select ${row.id}, * from unnest(${drawNodes}::text[], ${drawAmounts}::bigint[])`;
    try {
      await postTransaction(tx, {
        idempotencyKey: `payout:${row.id}`,
        kind: "payout",
        payoutId: row.id,
        postings: [
          ...draws.map((d) => ({ account: operatorEarnings(d.node), amount: -d.amount })),
          { account: PAYOUTS_IN_FLIGHT, amount: p.amount },
        ],
      });
    } catch (err) {
      if (err instanceof LedgerError && err.code === "insufficient_funds") {
        throw new PayoutError("insufficient_funds", err.message, { cause: err });
      }
      throw err;
    }
    return { payout: toPayout(row), created: true };
  });
}

/** How much each node of a payout paid into it. */
export async function payoutSources(
  sql: Sql,
  payoutId: bigint,
): Promise<{ nodePubkey: string; amount: bigint }[]> {
  const rows = await sql<{ node_pubkey: string; amount: bigint }[]>`
    select node_pubkey, amount from payout_sources where payout_id = ${payoutId} order by node_pubkey`;
  return rows.map((r) => ({ nodePubkey: r.node_pubkey, amount: r.amount }));
}

/** One claimed node's money on the operator's page (nano-USD); `earned` and `jobs` over the window. */
export interface OperatorNodeEarnings {
  nodePubkey: string;
  pending: bigint;
  earned: bigint;
  jobs: number;
}

/** An operator's earnings: summed over their claimed nodes, and per node. */
export interface OperatorEarningsSummary extends EarningsSummary {
  nodes: OperatorNodeEarnings[];
}

/** The earnings of every node the operator has claimed, summed and per node, and their payouts per coin. */
export async function operatorEarningsSummary(
  sql: Sql,
  operatorPubkey: string,
  opts: { days?: number; now?: Date } = {},
): Promise<OperatorEarningsSummary> {
  const since = earningsSince(opts);
  const claims = await sql<{ node_pubkey: string }[]>`
    select node_pubkey from operator_claims
    where operator_pubkey = ${operatorPubkey} and status = 'active' order by claimed_at, node_pubkey`;
  const nodes = claims.map((c) => c.node_pubkey);
  const balances = await sql<{ owner: string; balance: bigint }[]>`
    select owner, balance from accounts where kind = 'operator_earnings' and owner = any(${nodes}::text[])`;
  const perNode = await sql<{ node_pubkey: string; earned: bigint; jobs: bigint }[]>`
    select node_pubkey, sum(operator_share)::int8 as earned, count(*)::int8 as jobs
    from job_charges
    where node_pubkey = any(${nodes}::text[]) and settled_at >= ${since} and operator_share > 0
    group by node_pubkey`;
  const days = await sql<{ day: string; earned: bigint; jobs: bigint }[]>`
    select to_char(settled_at at time zone 'UTC', 'YYYY-MM-DD') as day,
           sum(operator_share)::int8 as earned, count(*)::int8 as jobs
    from job_charges
    where node_pubkey = any(${nodes}::text[]) and settled_at >= ${since} and operator_share > 0
    group by 1 order by 1 desc`;
  const pendingOf = new Map(balances.map((b) => [b.owner, b.balance]));
  const earnedOf = new Map(perNode.map((n) => [n.node_pubkey, n]));
  const nodeRows = nodes.map((n) => ({
    nodePubkey: n,
    pending: pendingOf.get(n) ?? 0n,
    earned: earnedOf.get(n)?.earned ?? 0n,
    jobs: Number(earnedOf.get(n)?.jobs ?? 0n),
  }));
  return {
    pending: nodeRows.reduce((s, n) => s + n.pending, 0n),
    ...await payoutTotals(sql, operatorPubkey, "operator"),
    days: days.map((d) => ({ day: d.day, earned: d.earned, jobs: Number(d.jobs) })),
    nodes: nodeRows,
  };
}

/**
 * Operators due an automatic payout: their claimed nodes' earnings summed at least `minBalance`
 * (nano-USD), an operator payout address, and no operator payout still open.
 */
export async function operatorsDueAutomaticOperatorPayout(sql: Sql, minBalance: bigint): Promise<string[]> {
  const rows = await sql<{ operator_pubkey: string }[]>`
    select oc.operator_pubkey from operator_claims oc
    join accounts a on a.kind = 'operator_earnings' and a.owner = oc.node_pubkey
    where oc.status = 'active'
      and exists (select 1 from operator_payout_addresses pa where pa.operator_pubkey = oc.operator_pubkey)
      and not exists (
        select 1 from payouts p where p.node_pubkey = oc.operator_pubkey and p.payee = 'operator'
          and p.status in ('requested', 'sent'))
    group by oc.operator_pubkey
    having sum(a.balance) >= ${minBalance}
    order by sum(a.balance) desc`;
  return rows.map((r) => r.operator_pubkey);
}
