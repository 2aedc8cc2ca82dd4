import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { openMigratedPglite, testOnEachDatabase } from "../../testing/databases.ts";
import { listReceipts } from "../../db/mod.ts";
import { artifactHash, createLogger, createNodeReceipt } from "../../shared/mod.ts";
import type { AttemptFacts } from "../receipts/receipt_desk.ts";
import { ephemeralPlatformKey } from "../receipts/platform_key.ts";
import type { InboxFrame } from "./cluster_frames.ts";
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

/** A desk whose nodes "n1" and "n2" are held by instance cp_b, forwarding into `sent`. */
async function withDesk(
  fn: (desk: ClusterReceiptDesk, sent: { to: string; frame: InboxFrame }[]) => void | Promise<void>,
) {
  const db = await openMigratedPglite();
  const desk = new ClusterReceiptDesk({ sql: db.sql, key: ephemeralPlatformKey(), log });
  const sent: { to: string; frame: InboxFrame }[] = [];
  desk.routeThrough({
    holderOf: (node) => node.startsWith("n") ? "cp_b" : null,
    send: (to, frame) => (sent.push({ to, frame }), true),
  });
  try {
    await fn(desk, sent);
  } finally {
    await desk.close();
    await db.close();
  }
}

Deno.test("cluster receipts - ended attempts' facts go to the holder after the answer, together", async () => {
  await withDesk(async (desk, sent) => {
    desk.expect("j1", "n1", { kind: "chat", model: "m1" });
    assert.deepEqual(sent.map((s) => s.frame.t), ["expect"]);
    desk.attemptEnded(facts("j1", "n1"));
    desk.attemptEnded(facts("j2", "n2"));
    // Not in the turn that ends the job, microtasks included (the consumer's answer is still to be
    // written then). A timer turn is not asserted on: a loaded machine may run the 5 ms linger first.
    for (let i = 0; i < 10; i++) await Promise.resolve();
    assert.equal(sent.length, 1);
    for (let i = 0; i < 100 && sent.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(sent.slice(1), [
      { to: "cp_b", frame: { t: "ended", facts: facts("j1", "n1") } },
      { to: "cp_b", frame: { t: "ended", facts: facts("j2", "n2") } },
    ]);
  });
});

Deno.test("cluster receipts - facts still waiting leave before the route is withdrawn", async () => {
  await withDesk((desk, sent) => {
    desk.attemptEnded(facts("j1", "n1"));
    assert.equal(sent.length, 0);
    desk.routeThrough(null);
    assert.deepEqual(sent, [{ to: "cp_b", frame: { t: "ended", facts: facts("j1", "n1") } }]);
  });
});
