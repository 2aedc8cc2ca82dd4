import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { testOnEachDatabase } from "../../testing/databases.ts";
import { listReceipts } from "../../db/mod.ts";
import { artifactHash, createLogger, createNodeReceipt } from "../../shared/mod.ts";
import type { AttemptFacts } from "../receipts/receipt_desk.ts";
import { ephemeralPlatformKey } from "../receipts/platform_key.ts";
import { ClusterReceiptDesk } from "./cluster_receipts.ts";

const log = createLogger({ level: "silent" });

function facts(jobId: string, node: string): AttemptFacts {
  return {
    jobId,
    nodePubkey: node,
    kind: "chat",
    model: "m1",
    apiKeyId: 7n,
    outcome: "success",
    cancelledBy: null,
    errorCode: null,
    artifactHash: artifactHash(["hello"]),
    reported: { prompt_tokens: 5, completion_tokens: 1 },
    counted: { prompt_tokens: 5, completion_tokens: 1 },
    billed: { prompt_tokens: 5, completion_tokens: 1 },
    amountNano: 1200n,
    ttftMs: 3,
    durationMs: 9,
  };
}

testOnEachDatabase(
  "cluster receipts - a node back from another instance continues the chain that instance wrote",
  async (db) => {
    const key = ephemeralPlatformKey();
    const [c, b] = [0, 1].map(() =>
      new ClusterReceiptDesk({ sql: db.sql, key, log, nodeWaitMs: 50, lingerMs: 1 })
    );
    try {
      const sk = generateSecretKey();
      const node = getPublicKey(sk);
      let prev: string | null = null;
      // One job on each desk in turn, as the node's socket moves C → B → C; each desk is asked for
      // the head when the node connects there, as the socket's welcome does.
      for (const [seq, desk] of [[1, c], [2, b], [3, c]] as const) {
        const head = await desk.head(node);
        assert.deepEqual(head && { id: head.id, seq: head.seq }, prev && { id: prev, seq: seq - 1 });
        const jobId = `job_${seq}`;
        desk.expect(jobId, node, { kind: "chat", model: "m1" });
        const ev = createNodeReceipt(sk, {
          task_id: jobId,
          category: "inference:chat",
          model: "m1",
          outcome: "success",
          artifact_hash: artifactHash(["hello"]),
          usage: { prompt_tokens: 5, completion_tokens: 1 },
          ttft_ms: 2,
          duration_ms: 8,
          seq,
          prev,
          created_at: Math.floor(Date.now() / 1000),
        });
        const answer = await desk.nodeReceipt(node, ev);
        assert.ok(answer.ok, answer.ok ? "" : answer.message);
        prev = ev.id;
        desk.attemptEnded(facts(jobId, node));
        assert.ok(await desk.whenReceipted(jobId, node), `job ${seq} receipted`);
      }
      const rows = await listReceipts(db.sql, { node });
      // Both chains whole: platform seq 1..3, node seq 1..3, one row per job.
      assert.deepEqual(rows.map((r) => [r.jobId, r.seq]), [["job_1", 1], ["job_2", 2], ["job_3", 3]]);
      assert.deepEqual(rows.map((r) => JSON.parse(JSON.parse(r.nodeEvent!).content).seq), [1, 2, 3]);
    } finally {
      await c.close();
      await b.close();
    }
  },
);
