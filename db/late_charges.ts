// Settling jobs whose balance lease was released before they were: an instance that died (or
// stalled past the sweep) with answers delivered but not yet settled, whose journal is replayed
// after another instance gave its leases up and returned their money to the balances. `settleJobs`
// skips such a job (its lease no longer pays); here it is charged instead from the key's balance,
// through a lease of its own (`late:<job id>`: taken, drawn by the settlement, released), so every
// ledger rule and `reconcile` check of leases holds. What the balance no longer has cannot be
// charged: the job is charged what is there (its charge capped at that, as at a hold), and one
// whose key has nothing left stays uncharged, which `reconcile` reports.
import type { Sql } from "./client.ts";
import { type SettledCharge, settleJobs, type Settlement } from "./charges.ts";
import type { JobRow } from "./jobs.ts";
import { releaseLease, takeLease } from "./leases.ts";

/** What settling, late charges included, did. */
export interface FullSettlement {
  settled: SettledCharge[];
  /** Jobs charged late, from the balance: their lease had been released. */
  late: SettledCharge[];
  /** Jobs whose lease was released and whose key's balance was empty: not charged. */
  uncollected: string[];
}

/** The lease a late job is charged through. */
export const lateLeaseId = (jobId: string) => `late:${jobId}`;

/**
 * `settleJobs`, then the jobs it skipped because their lease had been released meanwhile, each
 * charged from its key's balance (at most its cost capped at its hold). Idempotent as settleJobs.
 */
export async function settleJobsFully(
  sql: Sql,
  batch: Settlement[],
  jobRows: JobRow[] = [],
): Promise<FullSettlement> {
  const settled = await settleJobs(sql, batch, jobRows);
  const done = new Set(settled.map((s) => s.jobId));
  const skipped = batch.filter((s) => s.lease && s.nodePubkey && s.cost > 0n && !done.has(s.jobId));
  const out: FullSettlement = { settled, late: [], uncollected: [] };
  if (skipped.length === 0) return out;
  const ids = skipped.map((s) => s.jobId);
  const leases = skipped.map((s) => s.lease!.id);
  const [charged, released] = await Promise.all([
    sql<{ job_id: string }[]>`select job_id from job_charges where job_id in ${sql(ids)}`,
    sql<{ id: string }[]>`
      select id from balance_leases where id in ${sql(leases)} and released_at is not null`,
  ]);
  const hasCharge = new Set(charged.map((r) => r.job_id));
  const gone = new Set(released.map((r) => r.id));
  for (const s of skipped) {
    // Settled before (a replay of a replay), or a lease still open (not this case): nothing to do.
    if (hasCharge.has(s.jobId) || !gone.has(s.lease!.id)) continue;
    const late = await chargeLate(sql, s);
    if (late) out.late.push(late);
    else out.uncollected.push(s.jobId);
  }
  return out;
}

/** Charges one job through its own lease; null when its key's balance has nothing. */
async function chargeLate(sql: Sql, s: Settlement): Promise<SettledCharge | null> {
  const { apiKeyId, hold } = s.lease!;
  const leaseId = lateLeaseId(s.jobId);
  const want = s.cost < hold ? s.cost : hold;
  // A late lease left open by a crash between its steps is used as it is.
  const [open] = await sql<{ held: bigint; released: boolean }[]>`
    select held, released_at is not null as released from balance_leases where id = ${leaseId}`;
  let taken: bigint;
  if (open && !open.released) taken = open.held;
  else if (open) return null;
  else {
    const take = await takeLease(sql, { leaseId, apiKeyId, instance: "late", seq: 1, need: 1n, want });
    if (!take.ok) return null;
    taken = take.taken;
  }
  const [charge] = await settleJobs(sql, [{ ...s, lease: { id: leaseId, apiKeyId, hold: taken } }]);
  await releaseLease(sql, leaseId);
  return charge ?? null;
}
