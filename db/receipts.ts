// Job receipts in the database (migration 0013): the control plane's signed receipt of each job
// on each node, with the node's own signed receipt when it sent one. Rows are only ever inserted
// (a trigger refuses changes); a retried insert of the same receipt is a no-op.
import type { Sql } from "./client.ts";
import type { ReputationReceipt } from "../shared/mod.ts";

/** A receipt as written: the signed events plus the columns reputation reads (formula 1's facts). */
export interface ReceiptRow extends ReputationReceipt {
  receiptId: string;
  jobId: string;
  nodePubkey: string;
  seq: number;
  eventId: string;
  /** The platform event, JSON. */
  event: string;
  nodeSeq: number | null;
  nodeEventId: string | null;
  /** The node's event, JSON. */
  nodeEvent: string | null;
}

/** One stored receipt: the two events as JSON text, and its place in the platform chain. */
export interface StoredReceipt {
  seq: number;
  jobId: string;
  event: string;
  nodeEvent: string | null;
}

/** The last place of each of a node's two chains. */
export interface ReceiptHeads {
  platform: { id: string; seq: number } | null;
  node: { id: string; seq: number } | null;
}

/**
 * Inserts receipts in one statement; ones already there are skipped. The rows go as one JSON
 * parameter (json_to_recordset): JSON.stringify is native, where a text[] per column has the client
 * escape every event string as an array element in JavaScript (a receipt is ~2 KB of JSON).
 */
export async function insertReceipts(sql: Sql, rows: readonly ReceiptRow[]): Promise<void> {
  if (rows.length === 0) return;
  const json = JSON.stringify(rows.map((r) => ({
    receipt_id: r.receiptId,
    job_id: r.jobId,
    node_pubkey: r.nodePubkey,
    seq: r.seq,
    event_id: r.eventId,
    created_at: r.createdAt,
    outcome: r.outcome,
    cancelled_by: r.cancelledBy,
    signed: r.signed,
    metering_disagrees: r.meteringDisagrees,
    artifact_mismatch: r.artifactMismatch,
    ttft_ms: r.ttftMs,
    duration_ms: r.durationMs,
    completion_tokens: r.completionTokens,
    event: r.event,
    node_seq: r.nodeSeq,
    node_event_id: r.nodeEventId,
    node_event: r.nodeEvent,
  })));
  await sql`
    insert into receipts (
      receipt_id, job_id, node_pubkey, seq, event_id, created_at, outcome, cancelled_by, signed,
      metering_disagrees, artifact_mismatch, ttft_ms, duration_ms, completion_tokens, event, node_seq,
      node_event_id, node_event
    )
    select receipt_id, job_id, node_pubkey, seq, event_id, created_at, outcome, cancelled_by, signed,
      metering_disagrees, artifact_mismatch, ttft_ms, duration_ms, completion_tokens, event, node_seq,
      node_event_id, node_event
    from json_to_recordset(${json}::text::json) as r(
      receipt_id text, job_id text, node_pubkey text, seq bigint, event_id text, created_at bigint,
      outcome text, cancelled_by text, signed boolean, metering_disagrees boolean,
      artifact_mismatch boolean, ttft_ms integer, duration_ms integer, completion_tokens integer,
      event text, node_seq bigint, node_event_id text, node_event text
    )
    on conflict (receipt_id) do nothing`;
}

interface StoredDbRow {
  seq: bigint;
  job_id: string;
  event: string;
  node_event: string | null;
}

const stored = (r: StoredDbRow): StoredReceipt => ({
  seq: Number(r.seq),
  jobId: r.job_id,
  event: r.event,
  nodeEvent: r.node_event,
});

/** A node's receipts after platform seq `afterSeq`, oldest first (keyset paging). */
export async function listReceipts(
  sql: Sql,
  opts: { node: string; afterSeq?: number; limit?: number },
): Promise<StoredReceipt[]> {
  const rows = await sql<StoredDbRow[]>`
    select seq, job_id, event, node_event from receipts
    where node_pubkey = ${opts.node} and seq > ${opts.afterSeq ?? 0}
    order by seq limit ${opts.limit ?? 100}`;
  return rows.map(stored);
}

/** Every receipt of one job (one per node that took it), in the order they were written. */
export async function receiptsForJob(sql: Sql, jobId: string): Promise<StoredReceipt[]> {
  const rows = await sql<StoredDbRow[]>`
    select seq, job_id, event, node_event from receipts where job_id = ${jobId} order by created_at, seq`;
  return rows.map(stored);
}

/** The last receipt of a node's platform chain and of its own chain, as stored. */
export async function receiptHeads(sql: Sql, node: string): Promise<ReceiptHeads> {
  const [p] = await sql<{ event_id: string; seq: bigint }[]>`
    select event_id, seq from receipts where node_pubkey = ${node} order by seq desc limit 1`;
  const [n] = await sql<{ node_event_id: string; node_seq: bigint }[]>`
    select node_event_id, node_seq from receipts
    where node_pubkey = ${node} and node_seq is not null order by node_seq desc limit 1`;
  return {
    platform: p ? { id: p.event_id, seq: Number(p.seq) } : null,
    node: n ? { id: n.node_event_id, seq: Number(n.node_seq) } : null,
  };
}
