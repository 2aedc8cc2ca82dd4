import assert from "node:assert/strict";
import { testOnEachDatabase } from "../testing/databases.ts";
import { insertReceipts, type ReceiptRow } from "./receipts.ts";
import { receiptedJobs, receiptsAgainstNode, verificationsOfNode } from "./receipt_history.ts";

const NODE = "ab".repeat(32);
const OTHER = "cd".repeat(32);

function receipt(seq: number, over: Partial<ReceiptRow> = {}, errorCode: string | null = null): ReceiptRow {
  const node = over.nodePubkey ?? NODE;
  const content = JSON.stringify({ task_id: `job_${node.slice(0, 2)}${seq}`, error_code: errorCode });
  return {
    receiptId: `r_${node.slice(0, 2)}_${seq}`,
    jobId: `job_${node.slice(0, 2)}${seq}`,
    nodePubkey: node,
    seq,
    eventId: `${node.slice(0, 2)}${String(seq).padStart(62, "0")}`,
    createdAt: 1_800_000_000 + seq,
    outcome: "success",
    cancelledBy: null,
    signed: true,
    meteringDisagrees: false,
    artifactMismatch: false,
    ttftMs: 10,
    durationMs: 20,
    completionTokens: 3,
    event: JSON.stringify({ id: "x", kind: 7476, content }),
    nodeSeq: null,
    nodeEventId: null,
    nodeEvent: null,
    ...over,
  };
}

testOnEachDatabase(
  "receipt history - only the receipts that count against the node, newest first",
  async (db) => {
    await insertReceipts(db.sql, [
      receipt(1),
      receipt(2, { outcome: "failure" }, "engine_error"),
      receipt(3, { outcome: "cancelled", cancelledBy: "consumer" }),
      receipt(4, { outcome: "cancelled", cancelledBy: "node" }),
      receipt(5, { signed: false }),
      receipt(6, { meteringDisagrees: true }),
      receipt(7, { artifactMismatch: true }),
      receipt(8, { outcome: "timeout" }, "timeout"),
      receipt(9),
      receipt(1, { nodePubkey: OTHER, outcome: "failure" }),
    ]);
    const against = await receiptsAgainstNode(db.sql, NODE);
    assert.deepEqual(against.map((r) => r.seq), [8, 7, 6, 5, 4, 2]);
    assert.deepEqual(against[0], {
      jobId: "job_ab8",
      seq: 8,
      createdAt: 1_800_000_008,
      outcome: "timeout",
      cancelledBy: null,
      errorCode: "timeout",
      signed: true,
      meteringDisagrees: false,
      artifactMismatch: false,
    });
    assert.equal(against[5].errorCode, "engine_error");
    assert.equal(against[3].signed, false);
    assert.deepEqual((await receiptsAgainstNode(db.sql, NODE, { limit: 2 })).map((r) => r.seq), [8, 7]);
    assert.deepEqual(await receiptsAgainstNode(db.sql, "ef".repeat(32)), []);
    assert.deepEqual(
      await receiptedJobs(db.sql, ["job_ab2", "job_cd1", "job_none"]),
      new Set(["job_ab2", "job_cd1"]),
    );
    assert.deepEqual(await receiptedJobs(db.sql, []), new Set());
  },
);

testOnEachDatabase(
  "receipt history - verifications: newest first, the node's only",
  async (db) => {
    assert.deepEqual(await verificationsOfNode(db.sql, NODE), []);
    await db.sql`insert into verifications
      (event_id, receipt_event_id, job_id, node_pubkey, check_kind, result, detail, created_at, event) values
    ('e1', 'r1', 'job_1', ${NODE}, 'canary', 'pass', 'answer matched', 100, '{}'),
    ('e2', 'r2', 'job_2', ${NODE}, 'metering', 'fail', 'usage 3000 vs 4', 200, '{}'),
    ('e3', 'r3', 'job_3', ${OTHER}, 'canary', 'fail', '', 300, '{}')`;
    assert.deepEqual(await verificationsOfNode(db.sql, NODE), [
      {
        eventId: "e2",
        jobId: "job_2",
        check: "metering",
        result: "fail",
        detail: "usage 3000 vs 4",
        createdAt: 200,
      },
      {
        eventId: "e1",
        jobId: "job_1",
        check: "canary",
        result: "pass",
        detail: "answer matched",
        createdAt: 100,
      },
    ]);
    assert.deepEqual((await verificationsOfNode(db.sql, OTHER))[0].detail, "");
  },
);
