// Balance leases (see migration 0006): an instance sets aside a chunk of a key's balance in one
// transaction and reserves jobs against it in memory; settlements draw the lease down
// (`settleJobs`), and releasing it returns what is left. Every movement is an ordinary ledger
// transaction whose job_id is the lease id, so `reconcile` can follow each lease.
import type { Sql } from "./client.ts";
import { consumerBalance, consumerHolds, LedgerError, postTransaction } from "./ledger.ts";

/** The outcome of taking (or topping up) a lease. */
export type LeaseTake = { ok: true; taken: bigint } | { ok: false; available: bigint };

/**
 * Moves between `need` and `want` nano-USD of the key's balance into its holds for the lease
 * (created on first use): as much of `want` as the balance has, refused when it has less than
 * `need`. `seq` makes each top-up of a lease its own idempotent transaction.
 */
export async function takeLease(
  sql: Sql,
  l: { leaseId: string; apiKeyId: bigint; instance: string; seq: number; need: bigint; want: bigint },
): Promise<LeaseTake> {
  if (l.need <= 0n || l.want < l.need) throw new RangeError("a lease needs 0 < need ≤ want");
  const owner = l.apiKeyId.toString();
  return await retryDeadlock(() =>
    sql.begin(async (tx) => {
      // The balance row first (the lowest id of the key's accounts, as every writer locks).
      const [bal] = await tx<{ balance: bigint }[]>`
        select balance from accounts where kind = 'consumer_balance' and owner = ${owner} for update`;
      const balance = bal?.balance ?? 0n;
      if (balance < l.need) return { ok: false, available: balance } as const;
      const taken = balance < l.want ? balance : l.want;
      const posted = await postTransaction(tx, {
        idempotencyKey: `lease:${l.leaseId}:${l.seq}`,
        kind: "reserve",
        jobId: l.leaseId,
        postings: [
          { account: consumerBalance(l.apiKeyId), amount: -taken },
          { account: consumerHolds(l.apiKeyId), amount: taken },
        ],
      });
      if (!posted.applied) {
        throw new LedgerError("invalid_entry", `lease top-up ${l.leaseId}:${l.seq} repeated`);
      }
      // The lease row after the accounts, the order settlements lock in.
      const [lease] = await tx`
        insert into balance_leases (id, api_key_id, instance, held)
        values (${l.leaseId}, ${l.apiKeyId}, ${l.instance}, ${taken})
        on conflict (id) do update set held = balance_leases.held + excluded.held, renewed_at = now()
        where balance_leases.released_at is null
        returning 1`;
      if (!lease) {
        throw new LedgerError("invalid_entry", `lease ${l.leaseId} is already released`);
      }
      return { ok: true, taken } as const;
    })
  );
}

/** Returns what a lease still holds to the key's balance and closes it; returns the amount. */
export async function releaseLease(sql: Sql, leaseId: string): Promise<bigint> {
  return await retryDeadlock(() =>
    sql.begin(async (tx) => {
      const [lease] = await tx<{ api_key_id: bigint; held: bigint }[]>`
      select api_key_id, held from balance_leases where id = ${leaseId} and released_at is null`;
      if (!lease) return 0n;
      if (lease.held > 0n) {
        await postTransaction(tx, {
          idempotencyKey: `lease_release:${leaseId}`,
          kind: "release",
          jobId: leaseId,
          postings: [
            { account: consumerBalance(lease.api_key_id), amount: lease.held },
            { account: consumerHolds(lease.api_key_id), amount: -lease.held },
          ],
        });
      }
      // Locked after the accounts (the order settlements use): the lease row last.
      const [closed] = await tx<{ held: bigint }[]>`
      update balance_leases set held = 0, released_at = now()
      where id = ${leaseId} and released_at is null and held = ${lease.held}
      returning ${lease.held}::bigint as held`;
      if (!closed) throw new LedgerError("invalid_entry", `lease ${leaseId} changed while being released`);
      return lease.held;
    })
  );
}

/** Marks an instance's open leases as still in use (the sweep leaves them alone). */
export async function renewLeases(sql: Sql, instance: string): Promise<number> {
  const rows = await sql`
    update balance_leases set renewed_at = now() where instance = ${instance} and released_at is null
    returning 1`;
  return rows.length;
}

/**
 * Releases leases not renewed for `olderThanMs` (their instance stopped: killed or cut off);
 * the money goes back to the consumers. Returns how many.
 */
export async function releaseStaleLeases(sql: Sql, olderThanMs: number): Promise<number> {
  const stale = await sql<{ id: string }[]>`
    select id from balance_leases
    where released_at is null and renewed_at < now() - ${olderThanMs / 1000} * interval '1 second'
    order by renewed_at limit 1000`;
  for (const { id } of stale) await releaseLease(sql, id);
  return stale.length;
}

async function retryDeadlock<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await fn();
    } catch (err) {
      // Deadlock or serialization failure: PostgreSQL rolled us back; the work is safe to redo.
      const code = (err as { code?: string }).code;
      if (attempt >= 5 || (code !== "40P01" && code !== "40001")) throw err;
    }
  }
}
