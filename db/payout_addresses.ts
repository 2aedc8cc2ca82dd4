// Where operators want to be paid: one address per operator (node pubkey) and coin, validated
// per chain by the caller before it is stored.
import type { Sql } from "./client.ts";
import type { Tx } from "./ledger.ts";

/** An operator's payout address for one coin. */
export interface PayoutAddressRow {
  nodePubkey: string;
  coin: string;
  address: string;
  createdAt: Date;
  updatedAt: Date;
}

/** Sets (or replaces) an operator's address for a coin; the caller has validated it. */
export async function setPayoutAddress(
  sql: Sql,
  a: { nodePubkey: string; coin: string; address: string },
): Promise<PayoutAddressRow> {
  const [r] = await sql<{ created_at: Date; updated_at: Date }[]>`
    insert into payout_addresses (node_pubkey, coin, address)
    values (${a.nodePubkey}, ${a.coin}, ${a.address})
    on conflict (node_pubkey, coin) do update set address = excluded.address, updated_at = now()
    returning created_at, updated_at`;
  return { ...a, createdAt: r.created_at, updatedAt: r.updated_at };
}

/** An operator's payout addresses, the first one set first. */
export async function listPayoutAddresses(sql: Sql | Tx, nodePubkey: string): Promise<PayoutAddressRow[]> {
  const rows = await sql<{ coin: string; address: string; created_at: Date; updated_at: Date }[]>`
    select coin, address, created_at, updated_at from payout_addresses
    where node_pubkey = ${nodePubkey} order by created_at, coin`;
  return rows.map((r) => ({
    nodePubkey,
    coin: r.coin,
    address: r.address,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }));
}
