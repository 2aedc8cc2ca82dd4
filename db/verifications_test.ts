import assert from "node:assert/strict";
import { testOnEachDatabase } from "../testing/databases.ts";
import {
  insertVerifications,
  listVerifications,
  parseVerificationCursor,
  type VerificationRow,
} from "./verifications.ts";

const NODE = "cd".repeat(32);

function row(i: number, node = NODE): VerificationRow {
  const eventId = i.toString(16).padStart(64, "0");
  return {
    eventId,
    receiptEventId: "ee".repeat(32),
    jobId: `job_${i}`,
    nodePubkey: node,
    checkKind: i % 2 ? "cross_check" : "canary",
    result: i % 3 ? "pass" : "fail",
    detail: `check ${i}`,
    createdAt: 1_700_000_000 + Math.floor(i / 2),
    event: JSON.stringify({ id: eventId }),
  };
}

testOnEachDatabase("verifications - pages one node's results in order, each exactly once", async (db) => {
  const rows = Array.from({ length: 7 }, (_, i) => row(i + 1));
  assert.equal(await insertVerifications(db.sql, [...rows, row(50, "ab".repeat(32))]), 8);
  assert.equal(await insertVerifications(db.sql, rows.slice(0, 2)), 0, "stored once");
  const seen: VerificationRow[] = [];
  let after: string | null = null;
  for (let page = 0; page < 10; page++) {
    const got: Awaited<ReturnType<typeof listVerifications>> = await listVerifications(db.sql, {
      node: NODE,
      after: after ? parseVerificationCursor(after) : null,
      limit: 3,
    });
    seen.push(...got.rows);
    after = got.next;
    if (!after) break;
  }
  assert.deepEqual(seen, rows);
  assert.equal(parseVerificationCursor("12_xyz"), null);
});

testOnEachDatabase("verifications - are append-only", async (db) => {
  await insertVerifications(db.sql, [row(1)]);
  await assert.rejects(db.sql`update verifications set result = 'pass'`, /append-only/);
  await assert.rejects(db.sql`delete from verifications`, /append-only/);
});
