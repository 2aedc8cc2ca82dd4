// Verification results (migration 0014): the control plane's signed verdicts on nodes' jobs,
// append-only, read by node in keyset pages for `GET /api/verifications` and reputation.
import type { Sql } from "./client.ts";

/** One stored verification: its event (JSON text) and the columns it is found by. */
export interface VerificationRow {
  eventId: string;
  receiptEventId: string;
  jobId: string;
  nodePubkey: string;
  checkKind: "canary" | "cross_check" | "metering" | "hardware";
  result: "pass" | "fail";
  detail: string;
  /** Unix seconds, the event's `created_at`. */
  createdAt: number;
  event: string;
}

/** Stores verifications; an event stored before is skipped. Returns how many were new. */
export async function insertVerifications(sql: Sql, rows: VerificationRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const inserted = await sql`
    insert into verifications ${
    sql(
      rows.map((r) => ({
        event_id: r.eventId,
        receipt_event_id: r.receiptEventId,
        job_id: r.jobId,
        node_pubkey: r.nodePubkey,
        check_kind: r.checkKind,
        result: r.result,
        detail: r.detail,
        created_at: r.createdAt,
        event: r.event,
      })),
    )
  }
    on conflict (event_id) do nothing
    returning event_id`;
  return inserted.length;
}

/** A page of one node's verifications, oldest first, and the cursor of the next page (or null). */
export interface VerificationPage {
  rows: VerificationRow[];
  next: string | null;
}

/** The cursor after a row: its time and event id, so equal times still page exactly. */
export function verificationCursor(row: Pick<VerificationRow, "createdAt" | "eventId">): string {
  return `${row.createdAt}_${row.eventId}`;
}

/** Parses a cursor from {@link verificationCursor}; null when it is not one. */
export function parseVerificationCursor(cursor: string): { createdAt: number; eventId: string } | null {
  const m = /^(\d{1,15})_([0-9a-f]{64})$/.exec(cursor);
  return m ? { createdAt: Number(m[1]), eventId: m[2] } : null;
}

type Columns = {
  event_id: string;
  receipt_event_id: string;
  job_id: string;
  node_pubkey: string;
  check_kind: VerificationRow["checkKind"];
  result: VerificationRow["result"];
  detail: string;
  created_at: bigint | number;
  event: string;
};

/** One node's verifications after `after` (a cursor), oldest first, at most `limit`. */
export async function listVerifications(
  sql: Sql,
  opts: { node: string; after?: { createdAt: number; eventId: string } | null; limit: number },
): Promise<VerificationPage> {
  const after = opts.after ?? null;
  const rows = await sql<Columns[]>`
    select event_id, receipt_event_id, job_id, node_pubkey, check_kind, result, detail, created_at, event
    from verifications
    where node_pubkey = ${opts.node} ${
    after ? sql`and (created_at, event_id) > (${after.createdAt}, ${after.eventId})` : sql``
  }
    order by created_at, event_id
    limit ${opts.limit + 1}`;
  const page = rows.slice(0, opts.limit).map((r): VerificationRow => ({
    eventId: r.event_id,
    receiptEventId: r.receipt_event_id,
    jobId: r.job_id,
    nodePubkey: r.node_pubkey,
    checkKind: r.check_kind,
    result: r.result,
    detail: r.detail,
    createdAt: Number(r.created_at),
    event: r.event,
  }));
  const next = rows.length > opts.limit ? verificationCursor(page[page.length - 1]) : null;
  return { rows: page, next };
}
