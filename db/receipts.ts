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

/** Inserts receipts in one statement; ones already there are skipped. */
export async function insertReceipts(sql: Sql, rows: readonly ReceiptRow[]): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    insert into receipts (
      receipt_id, job_id, node_pubkey, seq, event_id, created_at, outcome, cancelled_by, signed,
      metering_disagrees, artifact_mismatch, ttft_ms, duration_ms, completion_tokens, event, node_seq,
      node_event_id, node_event
    )
    select * from unnest(
      ${rows.map((r) => r.receiptId)}::text[],
      ${rows.map((r) => r.jobId)}::text[],
      ${rows.map((r) => r.nodePubkey)}::text[],
      ${rows.map((r) => r.seq)}::bigint[],
      ${rows.map((r) => r.eventId)}::text[],
      ${rows.map((r) => r.createdAt)}::bigint[],
      ${rows.map((r) => r.outcome)}::text[],
      ${rows.map((r) => r.cancelledBy)}::text[],
      ${rows.map((r) => (r.signed ? "t" : "f"))}::text[]::boolean[],
      ${rows.map((r) => (r.meteringDisagrees ? "t" : "f"))}::text[]::boolean[],
      ${rows.map((r) => (r.artifactMismatch ? "t" : "f"))}::text[]::boolean[],
      ${rows.map((r) => r.ttftMs)}::int[],
      ${rows.map((r) => r.durationMs)}::int[],
      ${rows.map((r) => r.completionTokens)}::int[],
      ${rows.map((r) => r.event)}::text[],
      ${rows.map((r) => r.nodeSeq)}::bigint[],
      ${rows.map((r) => r.nodeEventId)}::text[],
      ${rows.map((r) => r.nodeEvent)}::text[]
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
