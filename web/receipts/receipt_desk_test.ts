import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { testOnEachDatabase } from "../../testing/databases.ts";
import type { Database } from "../../db/mod.ts";
import { listReceipts, receiptsForJob } from "../../db/mod.ts";
import {
  artifactHash,
  checkChain,
  createLogger,
  createNodeReceipt,
  type NodeReceiptContent,
  sleep,
  verifyNodeReceipt,
  verifyPlatformReceipt,
} from "../../shared/mod.ts";
import { type AttemptFacts, ReceiptDesk } from "./receipt_desk.ts";
import { ephemeralPlatformKey } from "./platform_key.ts";
import { workerSigner } from "./event_signer.ts";

const log = createLogger({ level: (Deno.env.get("LOG") ?? "silent") as "silent" });
const JOB = { kind: "chat" as const, model: "m1" };

function facts(jobId: string, node: string, over: Partial<AttemptFacts> = {}): AttemptFacts {
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
    ...over,
  };
}

function nodeReceipt(
  sk: Uint8Array,
  jobId: string,
  seq: number,
  prev: string | null,
  over: Partial<NodeReceiptContent> = {},
) {
  return createNodeReceipt(sk, {
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
    ...over,
  });
}

async function withDesk(db: Database, fn: (desk: ReceiptDesk) => Promise<void>, nodeWaitMs = 50) {
  const desk = new ReceiptDesk({
    sql: db.sql,
    key: ephemeralPlatformKey(),
    log,
    nodeWaitMs,
    lingerMs: 1,
    writeLingerMs: 1,
  });
  try {
    await fn(desk);
  } finally {
    await desk.close();
  }
}

testOnEachDatabase("receipt desk - countersigns a node's receipt and chains both sides", async (db) => {
  await withDesk(db, async (desk) => {
    const sk = generateSecretKey();
    const node = getPublicKey(sk);
    assert.equal(await desk.head(node), null);
    let prev: string | null = null;
    for (let i = 1; i <= 3; i++) {
      const jobId = `job_${i}`;
      desk.expect(jobId, node, JOB);
      const ev = nodeReceipt(sk, jobId, i, prev);
      prev = ev.id;
      const answer = await desk.nodeReceipt(node, ev);
      assert.deepEqual(answer, { ok: true, jobId, receiptId: answer.ok ? answer.receiptId : "" });
      desk.attemptEnded(facts(jobId, node));
      const written = await desk.whenReceipted(jobId, node);
      assert.ok(written);
    }
    const rows = await listReceipts(db.sql, { node });
    assert.equal(rows.length, 3);
    const platform = rows.map((r) => {
      const v = verifyPlatformReceipt(JSON.parse(r.event), desk.platformPubkey);
      assert.ok(v.ok, v.ok ? "" : v.reason);
      return v.value;
    });
    assert.ok(platform.every((p) => p.content.signed && p.content.amount === "0.0000012"));
    assert.deepEqual(
      checkChain(platform.map((p) => ({
        id: p.event.id,
        seq: p.content.seq,
        prev: p.content.prev,
        createdAt: p.content.created_at,
      }))),
      [],
    );
    const nodes = rows.map((r) => {
      const v = verifyNodeReceipt(JSON.parse(r.nodeEvent!));
      assert.ok(v.ok);
      return v.value;
    });
    assert.equal(platform[2].content.node_receipt, nodes[2].event.id);
    assert.deepEqual(await desk.head(node), { id: nodes[2].event.id, seq: 3 });
  });
});

testOnEachDatabase("receipt desk - a node that does not sign gets an unsigned receipt", async (db) => {
  await withDesk(db, async (desk) => {
    const node = getPublicKey(generateSecretKey());
    await desk.head(node);
    desk.attemptEnded(
      facts("job_u", node, { outcome: "timeout", billed: { prompt_tokens: 0, completion_tokens: 0 } }),
    );
    assert.ok(await desk.whenReceipted("job_u", node));
    const [row] = await receiptsForJob(db.sql, "job_u");
    const v = verifyPlatformReceipt(JSON.parse(row.event), desk.platformPubkey);
    assert.ok(v.ok);
    assert.equal(v.value.content.signed, false);
    assert.equal(v.value.content.node_receipt, null);
    assert.equal(v.value.content.outcome, "timeout");
    assert.equal(row.nodeEvent, null);
  });
});

testOnEachDatabase(
  "receipt desk - a wait whose receipt came leaves, and the next one still ends on time",
  async (db) => {
    await withDesk(db, async (desk) => {
      const sk = generateSecretKey();
      const node = getPublicKey(sk);
      await desk.head(node);
      // The first job's wait arms the timer, then its receipt comes: the second job, which never
      // gets one, is receipted unsigned when its own wait ends, not held by the first's timer.
      desk.expect("job_1", node, JOB);
      desk.attemptEnded(facts("job_1", node));
      await sleep(20);
      desk.expect("job_2", node, JOB);
      desk.attemptEnded(facts("job_2", node));
      assert.ok((await desk.nodeReceipt(node, nodeReceipt(sk, "job_1", 1, null))).ok);
      const [first, second] = await Promise.all([
        desk.whenReceipted("job_1", node),
        desk.whenReceipted("job_2", node),
      ]);
      assert.ok(first && second);
      const rows = await listReceipts(db.sql, { node });
      assert.deepEqual(rows.map((r) => [r.jobId, r.nodeEvent !== null]), [["job_1", true], ["job_2", false]]);
    }, 200);
  },
);

testOnEachDatabase(
  "receipt desk - refuses forged, foreign, replayed, reordered and late receipts",
  async (db) => {
    await withDesk(db, async (desk) => {
      const sk = generateSecretKey();
      const node = getPublicKey(sk);
      const other = generateSecretKey();
      await desk.head(node);
      desk.expect("job_a", node, JOB);
      desk.expect("job_b", node, JOB);
      const good = nodeReceipt(sk, "job_a", 1, null);
      const code = async (raw: unknown) => {
        const a = await desk.nodeReceipt(node, raw);
        return a.ok ? "ok" : a.code;
      };
      // Forged: tampered content, and a broken signature.
      assert.equal(await code({ ...good, content: good.content.replace('"m1"', '"m2"') }), "receipt_invalid");
      assert.equal(await code({ ...good, sig: "00".repeat(64) }), "receipt_invalid");
      // Foreign: signed by another key; a job this node was never sent.
      assert.equal(await code(nodeReceipt(other, "job_a", 1, null)), "receipt_foreign");
      assert.equal(await code(nodeReceipt(sk, "job_zzz", 1, null)), "receipt_foreign");
      // Out of order: a seq that skips, a prev that is not the head.
      assert.equal(await code(nodeReceipt(sk, "job_a", 2, null)), "receipt_out_of_order");
      assert.equal(await code(nodeReceipt(sk, "job_a", 1, "ab".repeat(32))), "receipt_out_of_order");
      // Another job's model is not this job's.
      assert.equal(await code(nodeReceipt(sk, "job_a", 1, null, { model: "other" })), "receipt_invalid");
      // None of that moved the head: the good one is still first.
      assert.equal(await code(good), "ok");
      assert.equal(await code(good), "receipt_replayed");
      desk.attemptEnded(facts("job_a", node));
      await desk.whenReceipted("job_a", node);
      assert.equal(await code(good), "receipt_replayed");
      // Late: the job was receipted unsigned before its receipt came.
      desk.attemptEnded(facts("job_b", node));
      await desk.whenReceipted("job_b", node);
      const late = await desk.nodeReceipt(node, nodeReceipt(sk, "job_b", 2, good.id));
      assert.equal(late.ok ? "ok" : late.code, "receipt_late");
      assert.deepEqual(late.ok ? null : late.head, { id: good.id, seq: 1 });
      const rows = await listReceipts(db.sql, { node });
      assert.deepEqual(rows.map((r) => [r.jobId, r.nodeEvent !== null]), [["job_a", true], ["job_b", false]]);
    });
  },
);

testOnEachDatabase(
  "receipt desk - signed receipts wait for the write linger and go in one insert",
  async (db) => {
    const desk = new ReceiptDesk({
      sql: db.sql,
      key: ephemeralPlatformKey(),
      log,
      nodeWaitMs: 1,
      lingerMs: 1,
      writeLingerMs: 300,
    });
    try {
      const node = getPublicKey(generateSecretKey());
      await desk.head(node);
      const jobs = ["job_l1", "job_l2", "job_l3"];
      for (const jobId of jobs) desk.attemptEnded(facts(jobId, node));
      await sleep(100);
      // Signed by now, not yet written: they wait to share a statement.
      assert.equal((await listReceipts(db.sql, { node })).length, 0);
      const written = await Promise.all(jobs.map((jobId) => desk.whenReceipted(jobId, node)));
      assert.ok(written.every((w) => w !== null));
      assert.deepEqual((await listReceipts(db.sql, { node })).map((r) => r.jobId), jobs);
    } finally {
      await desk.close();
    }
  },
);

testOnEachDatabase("receipt desk - receipts are append-only in the database", async (db) => {
  await withDesk(db, async (desk) => {
    const node = getPublicKey(generateSecretKey());
    desk.attemptEnded(facts("job_x", node));
    await desk.whenReceipted("job_x", node);
    await assert.rejects(db.sql`update receipts set outcome = 'failure'`, /append-only/);
    await assert.rejects(db.sql`delete from receipts`, /append-only/);
    assert.equal((await receiptsForJob(db.sql, "job_x")).length, 1);
  });
});

testOnEachDatabase("receipt desk - flags metering disagreement and a different artifact", async (db) => {
  await withDesk(db, async (desk) => {
    const sk = generateSecretKey();
    const node = getPublicKey(sk);
    await desk.head(node);
    desk.expect("job_m", node, JOB);
    const r = nodeReceipt(sk, "job_m", 1, null, {
      usage: { prompt_tokens: 5, completion_tokens: 3000 },
      artifact_hash: artifactHash(["something else"]),
    });
    assert.ok((await desk.nodeReceipt(node, r)).ok);
    desk.attemptEnded(facts("job_m", node));
    await desk.whenReceipted("job_m", node);
    const [row] = await db.sql<{ metering_disagrees: boolean; artifact_mismatch: boolean }[]>`
      select metering_disagrees, artifact_mismatch from receipts where job_id = 'job_m'`;
    assert.deepEqual({ ...row }, { metering_disagrees: true, artifact_mismatch: true });
  });
});

testOnEachDatabase("receipt desk - signs in a worker, chained and verifiable", async (db) => {
  const key = ephemeralPlatformKey();
  const desk = new ReceiptDesk({
    sql: db.sql,
    key,
    log,
    nodeWaitMs: 10,
    lingerMs: 1,
    signer: workerSigner(key.secretKey),
  });
  try {
    const node = getPublicKey(generateSecretKey());
    for (let i = 0; i < 30; i++) desk.attemptEnded(facts(`job_w${i}`, node));
    await desk.flush();
    const rows = await listReceipts(db.sql, { node });
    assert.equal(rows.length, 30);
    const links = rows.map((r) => {
      const v = verifyPlatformReceipt(JSON.parse(r.event), key.pubkey);
      assert.ok(v.ok, v.ok ? "" : v.reason);
      return {
        id: v.value.event.id,
        seq: v.value.content.seq,
        prev: v.value.content.prev,
        createdAt: v.value.content.created_at,
      };
    });
    assert.deepEqual(checkChain(links), []);
  } finally {
    await desk.close();
  }
});
