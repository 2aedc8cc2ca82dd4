// What the operator page shows of a node's track record: its recent receipts that count against
// it (docs/protocol.md §11) and its recent verification results. Reads only; the receipts table
// is migration 0013, the verifications table comes with the canary checks and may not exist yet.
import type { Sql } from "./client.ts";

/** A receipt that counts against its node, with what made it count. */
export interface ReceiptAgainst {
  jobId: string;
  seq: number;
  /** Unix seconds. */
  createdAt: number;
  outcome: "success" | "failure" | "timeout" | "cancelled";
  cancelledBy: "consumer" | "node" | "platform" | null;
  errorCode: string | null;
  signed: boolean;
  meteringDisagrees: boolean;
  artifactMismatch: boolean;
}

/** One verification of a node's work (a canary, a cross-check…). */
export interface VerificationResult {
  eventId: string;
  jobId: string;
  check: string;
  result: "pass" | "fail";
  detail: string;
  /** Unix seconds. */
  createdAt: number;
}

interface AgainstDbRow {
  job_id: string;
  seq: bigint;
  created_at: bigint;
  outcome: ReceiptAgainst["outcome"];
  cancelled_by: ReceiptAgainst["cancelledBy"];
  error_code: string | null;
  signed: boolean;
  metering_disagrees: boolean;
  artifact_mismatch: boolean;
}

/**
 * A node's newest receipts that count against it, newest first: failures, timeouts, cancellations
 * by the node, unsigned receipts, metering disagreements and artifact mismatches.
 */
export async function receiptsAgainstNode(
  sql: Sql,
  node: string,
  opts: { limit?: number } = {},
): Promise<ReceiptAgainst[]> {
  // error_code lives only in the signed event's content (itself a JSON string).
  const rows = await sql<AgainstDbRow[]>`
    select job_id, seq, created_at, outcome, cancelled_by, signed, metering_disagrees, artifact_mismatch,
      ((event::jsonb ->> 'content')::jsonb ->> 'error_code') as error_code
    from receipts
    where node_pubkey = ${node}
      and (outcome in ('failure', 'timeout') or cancelled_by = 'node' or not signed
        or metering_disagrees or artifact_mismatch)
    order by seq desc limit ${opts.limit ?? 20}`;
  return rows.map((r) => ({
    jobId: r.job_id,
    seq: Number(r.seq),
    createdAt: Number(r.created_at),
    outcome: r.outcome,
    cancelledBy: r.cancelled_by,
    errorCode: r.error_code,
    signed: r.signed,
    meteringDisagrees: r.metering_disagrees,
    artifactMismatch: r.artifact_mismatch,
  }));
}

/** Which of these jobs have at least one receipt (a failed job reached a node, too). */
export async function receiptedJobs(sql: Sql, jobIds: readonly string[]): Promise<Set<string>> {
  if (jobIds.length === 0) return new Set();
  const rows = await sql<{ job_id: string }[]>`
    select distinct job_id from receipts where job_id = any(${jobIds as string[]}::text[])`;
  return new Set(rows.map((r) => r.job_id));
}

interface VerificationDbRow {
  event_id: string;
  job_id: string;
  check_kind: string;
  result: "pass" | "fail";
  detail: string | null;
  created_at: bigint;
}

/** A node's newest verification results, newest first (migration 0014's table). */
export async function verificationsOfNode(
  sql: Sql,
  node: string,
  opts: { limit?: number } = {},
): Promise<VerificationResult[]> {
  const rows = await sql<VerificationDbRow[]>`
    select event_id, job_id, check_kind, result, detail, created_at from verifications
    where node_pubkey = ${node} order by created_at desc, event_id limit ${opts.limit ?? 20}`;
  return rows.map((r) => ({
    eventId: r.event_id,
    jobId: r.job_id,
    check: r.check_kind,
    result: r.result,
    detail: r.detail ?? "",
    createdAt: Number(r.created_at),
  }));
}
