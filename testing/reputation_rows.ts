// Rows for reputation tests, written straight into `receipts` and `verifications` (placeholder
// events: the reputation query reads the columns only). `ensureVerificationsTable` stands in for
// the verifications migration (0014) until it lands; it creates nothing when the table exists.
import { insertReceipts, type ReceiptRow, type Sql } from "../db/mod.ts";
import type { ReputationReceipt, ReputationVerification } from "../shared/mod.ts";

/** Creates `verifications` in the shape migration 0014 gives it, when it is not there yet. */
export async function ensureVerificationsTable(sql: Sql): Promise<void> {
  await sql`create table if not exists verifications (
    event_id text primary key,
    receipt_event_id text not null,
    job_id text not null,
    node_pubkey text not null,
    check_kind text not null,
    result text not null check (result in ('pass', 'fail')),
    detail text not null,
    created_at bigint not null,
    event text not null
  )`;
}

let counter = 0;
const nextId = () =>
  `${Date.now().toString(36)}_${(counter++).toString(36)}_${crypto.randomUUID().slice(0, 8)}`;

/** Inserts receipt rows for `node` (seq continuing from `firstSeq`). */
export async function insertReceiptRows(
  sql: Sql,
  node: string,
  receipts: readonly ReputationReceipt[],
  firstSeq = 1,
): Promise<void> {
  const rows: ReceiptRow[] = receipts.map((r, i) => {
    const id = nextId();
    return {
      ...r,
      receiptId: `rcpt_${id}`,
      jobId: `job_${id}`,
      nodePubkey: node,
      seq: firstSeq + i,
      eventId: `ev_${id}`,
      event: "{}",
      nodeSeq: null,
      nodeEventId: null,
      nodeEvent: null,
    };
  });
  for (let i = 0; i < rows.length; i += 1000) await insertReceipts(sql, rows.slice(i, i + 1000));
}

/** Inserts verification rows for `node`. */
export async function insertVerificationRows(
  sql: Sql,
  node: string,
  verifications: readonly ReputationVerification[],
): Promise<void> {
  const rows = verifications.map((v) => {
    const id = nextId();
    return {
      event_id: `vev_${id}`,
      receipt_event_id: `ev_${id}`,
      job_id: `job_${id}`,
      node_pubkey: node,
      check_kind: "canary",
      result: v.result,
      detail: "",
      created_at: v.createdAt,
      event: "{}",
    };
  });
  for (let i = 0; i < rows.length; i += 1000) {
    await sql`insert into verifications ${sql(rows.slice(i, i + 1000))}`;
  }
}
