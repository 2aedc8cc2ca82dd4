// Balance leases (see migration 0006): an instance sets aside a chunk of a key's balance in one
// transaction and reserves jobs against it in memory; settlements draw the lease down
// (`settleJobs`), and releasing it returns what is left. A top-up or a release is an ordinary
// ledger transaction whose job_id is the lease id; what the lease's jobs were charged is in their
// charge rows (lease_id) and their batches' `settle_batch` transactions, so `reconcile` can follow
// each lease. Every writer locks the lease row first, then its key's accounts (in id order).
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
      // The lease first, when it exists (a top-up): a lease, then its key's accounts, as
      // settlements and releases lock them.
      const [open] = await tx<{ released: boolean }[]>`
        select released_at is not null as released from balance_leases where id = ${l.leaseId} for update`;
      if (open?.released) throw new LedgerError("lease_released", `lease ${l.leaseId} is already released`);
      // Then the balance row (the lowest id of the key's accounts, as every writer locks).
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
      const [lease] = await tx`
        insert into balance_leases (id, api_key_id, instance, held)
        values (${l.leaseId}, ${l.apiKeyId}, ${l.instance}, ${taken})
        on conflict (id) do update set held = balance_leases.held + excluded.held, renewed_at = now()
        where balance_leases.released_at is null
        returning 1`;
      if (!lease) {
        throw new LedgerError("lease_released", `lease ${l.leaseId} is already released`);
      }
      return { ok: true, taken } as const;
    })
  );
}

/** Returns what a lease still holds to the key's balance and closes it; returns the amount. */
export async function releaseLease(sql: Sql, leaseId: string): Promise<bigint> {
  return (await release(sql, leaseId, null)) ?? 0n;
}

/**
 * Releases one lease if it has still not been renewed for `olderThanMs` (checked under its lock,
 * so a renewal that came in after the sweep picked it wins); null when it was left open.
 */
export function releaseLeaseIfStale(sql: Sql, leaseId: string, olderThanMs: number): Promise<bigint | null> {
  return release(sql, leaseId, olderThanMs / 1000);
}

/** Releases the lease (only if still not renewed for `staleSec`, when given); null: left open. */
function release(sql: Sql, leaseId: string, staleSec: number | null): Promise<bigint | null> {
  return retryDeadlock(() =>
    sql.begin(async (tx) => {
      // The lease row first, then (posting below) its key's accounts: the order settlements and
      // top-ups lock in, so the amount read here cannot change (a settlement drawing on the lease
      // waits, then finds it released) until this commits.
      const [lease] = await tx<{ api_key_id: bigint; held: bigint; stale: boolean }[]>`
        select api_key_id, held,
          renewed_at < now() - ${staleSec ?? 0} * interval '1 second' as stale
        from balance_leases where id = ${leaseId} and released_at is null
        for update`;
      if (!lease) return null;
      // The sweep re-checks under the lock: a lease renewed since it was picked stays open.
      if (staleSec !== null && !lease.stale) return null;
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
      await tx`update balance_leases set held = 0, released_at = now() where id = ${leaseId}`;
      return lease.held;
    })
  );
}

/** Marks an instance's open leases as still in use (the sweep leaves them alone). */
export async function renewLeases(sql: Sql, instance: string): Promise<number> {
  // Locked in id order, as settlements lock the leases they draw on: in whatever order the scan
  // met them, a renewal and a settlement of two of its leases could deadlock.
  const rows = await sql`
    update balance_leases set renewed_at = now()
    where id in (
      select id from balance_leases where instance = ${instance} and released_at is null
      order by id for update)
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
  let released = 0;
  const failed: unknown[] = [];
  for (const { id } of stale) {
    try {
      if (await release(sql, id, olderThanMs / 1000) !== null) released++;
    } catch (err) {
      failed.push(err); // the others are still released; this one is tried again next sweep
    }
  }
  if (failed.length > 0) {
    throw new AggregateError(failed, `${failed.length} of ${stale.length} stale leases not released`);
  }
  return released;
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
