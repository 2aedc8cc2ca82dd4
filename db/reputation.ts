// Reputation's weighted sums (formula 1, docs/protocol.md §12) aggregated in the database over
// `receipts` and `verifications`, for one node or every node, in one query each; the shared
// reputationFromSums finishes the score, so the server and a reader recomputing from the events
// run the same arithmetic.
import {
  emptyReputationSums,
  type Reputation,
  reputationFromSums,
  type ReputationSums,
  type ReputationTime,
} from "../shared/mod.ts";
import type { Sql } from "./client.ts";

interface SumsRow {
  node_pubkey: string;
  good: number;
  bad: number;
  successes: number;
  failures: number;
  timeouts: number;
  node_cancellations: number;
  unsigned: number;
  metering_disagreements: number;
  artifact_mismatches: number;
  verification_passes: number;
  verification_failures: number;
  ttft_weight: number;
  ttft_weighted: number;
  tps_weight: number;
  tps_weighted: number;
}

function sumsOf(row: SumsRow): ReputationSums {
  return {
    good: row.good,
    bad: row.bad,
    successes: row.successes,
    failures: row.failures,
    timeouts: row.timeouts,
    nodeCancellations: row.node_cancellations,
    unsigned: row.unsigned,
    meteringDisagreements: row.metering_disagreements,
    artifactMismatches: row.artifact_mismatches,
    verificationPasses: row.verification_passes,
    verificationFailures: row.verification_failures,
    ttftWeight: row.ttft_weight,
    ttftWeighted: row.ttft_weighted,
    tpsWeight: row.tps_weight,
    tpsWeighted: row.tps_weighted,
  };
}

/**
 * The sums per node over the rows created at or before T. `node` narrows both scans to one node
 * (by the `(node_pubkey, created_at)` indexes). Receipts a consumer or the platform cancelled are not the node's doing and are left
 * out; a receipt is good when it is a signed success whose metering and artifact agree.
 */
function sumsQuery(sql: Sql, time: ReputationTime, node: string | null) {
  const at = time.at;
  const h = time.halfLifeS;
  const receiptsOf = node === null ? sql`` : sql`and node_pubkey = ${node}`;
  const verificationsOf = node === null ? sql`` : sql`and node_pubkey = ${node}`;
  return sql<SumsRow[]>`
    with r as (
      select node_pubkey, outcome, signed, metering_disagrees, artifact_mismatch, ttft_ms,
        duration_ms, completion_tokens,
        power(0.5, greatest(0, ${at}::bigint - created_at)::float8 / ${h}::float8) as w,
        (outcome = 'success' and signed and not metering_disagrees and not artifact_mismatch) as good
      from receipts
      where created_at <= ${at}::bigint and (cancelled_by is null or cancelled_by = 'node') ${receiptsOf}
    ), rs as (
      select node_pubkey,
        coalesce(sum(w) filter (where good), 0) as good,
        coalesce(sum(w) filter (where not good), 0) as bad,
        coalesce(sum(w) filter (where outcome = 'success'), 0) as successes,
        coalesce(sum(w) filter (where outcome = 'failure'), 0) as failures,
        coalesce(sum(w) filter (where outcome = 'timeout'), 0) as timeouts,
        coalesce(sum(w) filter (where outcome = 'cancelled'), 0) as node_cancellations,
        coalesce(sum(w) filter (where not signed), 0) as unsigned,
        coalesce(sum(w) filter (where metering_disagrees), 0) as metering_disagreements,
        coalesce(sum(w) filter (where artifact_mismatch), 0) as artifact_mismatches,
        coalesce(sum(w) filter (where good and ttft_ms is not null), 0) as ttft_weight,
        coalesce(sum(w * ttft_ms) filter (where good and ttft_ms is not null), 0) as ttft_weighted,
        coalesce(sum(w) filter (
          where good and ttft_ms is not null and completion_tokens >= 1 and duration_ms > ttft_ms
        ), 0) as tps_weight,
        coalesce(sum(w * (completion_tokens::float8 * 1000 / (duration_ms - ttft_ms))) filter (
          where good and ttft_ms is not null and completion_tokens >= 1 and duration_ms > ttft_ms
        ), 0) as tps_weighted
      from r group by node_pubkey
    ), vs as (
      select node_pubkey,
        coalesce(sum(power(0.5, greatest(0, ${at}::bigint - created_at)::float8 / ${h}::float8))
          filter (where result = 'pass'), 0) as verification_passes,
        coalesce(sum(power(0.5, greatest(0, ${at}::bigint - created_at)::float8 / ${h}::float8))
          filter (where result = 'fail'), 0) as verification_failures
      from verifications where created_at <= ${at}::bigint ${verificationsOf}
      group by node_pubkey
    )
    select node_pubkey,
      coalesce(good, 0) as good, coalesce(bad, 0) as bad, coalesce(successes, 0) as successes,
      coalesce(failures, 0) as failures, coalesce(timeouts, 0) as timeouts,
      coalesce(node_cancellations, 0) as node_cancellations, coalesce(unsigned, 0) as unsigned,
      coalesce(metering_disagreements, 0) as metering_disagreements,
      coalesce(artifact_mismatches, 0) as artifact_mismatches,
      coalesce(verification_passes, 0) as verification_passes,
      coalesce(verification_failures, 0) as verification_failures,
      coalesce(ttft_weight, 0) as ttft_weight, coalesce(ttft_weighted, 0) as ttft_weighted,
      coalesce(tps_weight, 0) as tps_weight, coalesce(tps_weighted, 0) as tps_weighted
    from rs full join vs using (node_pubkey)`;
}

/** One node's reputation at time T (a node with no receipts and no verifications: the prior). */
export async function nodeReputation(sql: Sql, node: string, time: ReputationTime): Promise<Reputation> {
  const [row] = await sumsQuery(sql, time, node);
  return reputationFromSums(row ? sumsOf(row) : emptyReputationSums());
}

/** Every node with a receipt or a verification, and its reputation at time T. */
export async function allReputations(sql: Sql, time: ReputationTime): Promise<Map<string, Reputation>> {
  const rows = await sumsQuery(sql, time, null);
  return new Map(rows.map((row) => [row.node_pubkey, reputationFromSums(sumsOf(row))]));
}

/** One node's weighted sums at time T (what a running total starts from). */
export async function nodeReputationSums(
  sql: Sql,
  node: string,
  time: ReputationTime,
): Promise<ReputationSums> {
  const [row] = await sumsQuery(sql, time, node);
  return row ? sumsOf(row) : emptyReputationSums();
}

/** Every node's weighted sums at time T. */
export async function allReputationSums(
  sql: Sql,
  time: ReputationTime,
): Promise<Map<string, ReputationSums>> {
  const rows = await sumsQuery(sql, time, null);
  return new Map(rows.map((row) => [row.node_pubkey, sumsOf(row)]));
}
