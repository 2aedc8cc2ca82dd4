// Direct mode on the control plane: routing answers signed tickets; the job settles on the node's
// receipt and the consumer's ack by the rule of docs/protocol.md §14, through the usual recorder.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { verifyTicket } from "../../../shared/direct/ticket.ts";
import { reconcile, type Sql } from "../../../db/mod.ts";
import { testOnEachDatabase } from "../../../testing/databases.ts";
import { createTestKey } from "../../../testing/funding.ts";
import { type DirectPlane, openDirectPlane } from "../../../testing/direct_plane.ts";
import { within } from "../../../testing/within.ts";

interface RouteAnswer {
  job_id: string;
  expires_at: number;
  candidates: {
    node: string;
    npub: string;
    endpoint: string | null;
    relay: string;
    model_key: string | null;
    ticket: unknown;
  }[];
}

async function routed(
  p: DirectPlane,
  consumer: string,
  extra: Record<string, unknown> = {},
): Promise<RouteAnswer> {
  const res = await p.route({ model: "m", prompt_tokens: 100, max_tokens: 200, consumer, ...extra });
  assert.equal(res.status, 200, await res.clone().text());
  return await res.json();
}

/** The job's row and charge once settled (bounded wait). */
async function settled(p: DirectPlane, jobId: string) {
  const sql: Sql = p.t.cp.db.sql;
  return await within(
    (async () => {
      for (let i = 0; i < 400; i++) {
        await p.t.cp.recorder.flush();
        const [row] = await sql`
          select j.status, j.error_code, j.prompt_tokens, j.completion_tokens, j.node_pubkey,
            j.counted_prompt_tokens, c.charged::text as charged, c.reserved::text as reserved
          from jobs j left join job_charges c on c.job_id = j.id where j.id = ${jobId}`;
        if (row && row.charged !== null) return row;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error("never settled");
    })(),
    5000,
    `job ${jobId} settled`,
  );
}

async function receiptFlags(p: DirectPlane, jobId: string, node: string) {
  assert.ok(await within(p.t.cp.receipts.whenReceipted(jobId, node), 5000, "the platform receipt"));
  const [r] = await p.t.cp.db.sql`
    select metering_disagrees, artifact_mismatch, signed, event from receipts where job_id = ${jobId}`;
  return r;
}

testOnEachDatabase("route - answers one ticket per live node, each verifying for its node", async (db) => {
  const p = await openDirectPlane(db, { count: 2, advert: { endpoint: "https://node.example:8443" } });
  try {
    const consumer = getPublicKey(generateSecretKey());
    const a = await routed(p, consumer);
    assert.match(a.job_id, /^job_/);
    assert.equal(a.candidates.length, 2);
    const nowS = Math.floor(Date.now() / 1000);
    assert.ok(a.expires_at >= nowS + 59 && a.expires_at <= nowS + 61);
    for (const c of a.candidates) {
      assert.equal(c.endpoint, "https://node.example:8443");
      assert.equal(c.relay, `/v1/relay/${a.job_id}?node=${c.node}`);
      assert.equal(c.model_key, null);
      const v = verifyTicket(c.ticket, { platformPubkey: p.t.cp.platformKey.pubkey, node: c.node, nowS });
      assert.ok(v.ok, JSON.stringify(v));
      assert.equal(v.ticket.content.job_id, a.job_id);
      assert.equal(v.ticket.content.consumer, consumer);
      assert.equal(v.ticket.content.prompt_tokens, 100);
      assert.equal(v.ticket.content.max_tokens, 200);
      assert.ok(BigInt(v.ticket.content.max_cost) > 0n);
      // A ticket is for its node only.
      const other = a.candidates.find((o) => o.node !== c.node)!.node;
      const foreign = verifyTicket(c.ticket, {
        platformPubkey: p.t.cp.platformKey.pubkey,
        node: other,
        nowS,
      });
      assert.ok(!foreign.ok && foreign.code === "ticket_foreign");
    }
    // No job was sent to a node (the consumer calls it): only the first candidate, which the
    // consumer calls first, got its ticket ahead; the second got nothing.
    const first = p.nodes.find((n) => n.pubkey === a.candidates[0].node)!;
    const second = p.nodes.find((n) => n.pubkey === a.candidates[1].node)!;
    assert.deepEqual(first.sent, [{ type: "ticket", ticket: a.candidates[0].ticket }]);
    assert.deepEqual(second.sent, []);
  } finally {
    await p.close();
  }
});

testOnEachDatabase("route - 400, 404 and 402 as for /v1", async (db) => {
  const p = await openDirectPlane(db);
  try {
    const consumer = getPublicKey(generateSecretKey());
    const bad = await p.route({ model: "m", prompt_tokens: 10, consumer: "nothex" });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.param, "consumer");
    // Hex, but no point has that x (BIP-340's vector 5; and x ≥ p): every node would refuse it.
    for (
      const offCurve of ["eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34", "ff".repeat(32)]
    ) {
      const res = await p.route({ model: "m", prompt_tokens: 10, consumer: offCurve });
      const error = (await res.json()).error;
      assert.deepEqual([res.status, error.code, error.param], [400, "invalid_request", "consumer"]);
      assert.match(error.message, /not a secp256k1 public key/);
    }
    const noCount = await p.route({ model: "m", consumer });
    assert.equal(noCount.status, 400);
    await noCount.body?.cancel();
    const unknown = await p.route({ model: "nope", prompt_tokens: 10, consumer });
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error.code, "model_not_found");
    const noKey = await p.route({ model: "m", prompt_tokens: 10, consumer, target: "model" });
    assert.equal(noKey.status, 404);
    assert.equal((await noKey.json()).error.code, "model_key_not_found");
    const { key } = await createTestKey(db.sql, 1n);
    const poor = await p.route({ model: "m", prompt_tokens: 100, max_tokens: 100, consumer }, key);
    assert.equal(poor.status, 402);
    assert.equal((await poor.json()).error.code, "insufficient_quota");
  } finally {
    await p.close();
  }
});

testOnEachDatabase(
  "route - agreeing counts bill the node's; disagreeing bill the lower, flagged",
  async (db) => {
    const p = await openDirectPlane(db, { count: 2 });
    try {
      const consumerKey = generateSecretKey();
      const a = await routed(p, getPublicKey(consumerKey));
      const ran = p.nodes.find((n) => n.pubkey === a.candidates[0].node)!;
      assert.ok(
        (await p.nodeReceipt(ran, a.job_id, { prompt_tokens: 101, completion_tokens: 150 }, "cd".repeat(32)))
          .ok,
      );
      const ack = await p.ack(a.job_id, consumerKey, {
        node: ran.pubkey,
        prompt_tokens: 100,
        completion_tokens: 148,
        artifact_hash: "cd".repeat(32),
      });
      assert.equal(ack.status, 200, await ack.clone().text());
      await ack.body?.cancel();
      const row = await settled(p, a.job_id);
      assert.equal(row.status, "completed");
      assert.equal(row.error_code, null);
      assert.equal(row.node_pubkey, ran.pubkey);
      assert.deepEqual([row.prompt_tokens, row.completion_tokens], [101, 150]);
      assert.equal(row.counted_prompt_tokens, 100);
      // Price 1000 nano-USD per 1k tokens each: 251 tokens → 251 nano-USD.
      assert.equal(row.charged, "251");
      const flags = await receiptFlags(p, a.job_id, row.node_pubkey);
      assert.deepEqual([flags.signed, flags.metering_disagrees, flags.artifact_mismatch], [
        true,
        false,
        false,
      ]);
      // Settled: the same ack again (a retry whose answer was lost) is a replay, not an unknown job;
      // another key's is still foreign; nothing changes.
      const again = await p.ack(a.job_id, consumerKey, { node: ran.pubkey, prompt_tokens: 1 });
      assert.deepEqual([again.status, (await again.json()).error.code], [409, "ack_replayed"]);
      const stranger = await p.ack(a.job_id, generateSecretKey(), { node: ran.pubkey });
      assert.deepEqual([stranger.status, (await stranger.json()).error.code], [403, "ack_foreign"]);
      assert.equal((await settled(p, a.job_id)).charged, "251");

      const b = await routed(p, getPublicKey(consumerKey));
      assert.ok(
        (await p.nodeReceipt(ran, b.job_id, { prompt_tokens: 100, completion_tokens: 190 }, "cd".repeat(32)))
          .ok,
      );
      const ack2 = await p.ack(b.job_id, consumerKey, {
        node: ran.pubkey,
        prompt_tokens: 100,
        completion_tokens: 40,
        artifact_hash: "ef".repeat(32),
      });
      assert.equal(ack2.status, 200);
      await ack2.body?.cancel();
      const row2 = await settled(p, b.job_id);
      assert.deepEqual([row2.prompt_tokens, row2.completion_tokens], [100, 40]);
      assert.equal(row2.charged, "140");
      const flags2 = await receiptFlags(p, b.job_id, row2.node_pubkey);
      assert.deepEqual([flags2.metering_disagrees, flags2.artifact_mismatch], [true, true]);
      assert.deepEqual(await reconcile(db.sql), []);
    } finally {
      await p.close();
    }
  },
);

testOnEachDatabase(
  "route - no ack bills the node's within bounds, flagged; no receipt bills nothing",
  async (db) => {
    const p = await openDirectPlane(db);
    try {
      const consumerKey = generateSecretKey();
      const node = p.nodes[0];
      const a = await routed(p, getPublicKey(consumerKey));
      assert.ok(
        (await p.nodeReceipt(node, a.job_id, { prompt_tokens: 5000, completion_tokens: 9000 }, null)).ok,
      );
      const row = await settled(p, a.job_id);
      assert.equal(row.error_code, "no_consumer_ack");
      // prompt ≤ 100 × 1.25 + 16, completion ≤ max_tokens.
      assert.deepEqual([row.prompt_tokens, row.completion_tokens], [141, 200]);
      assert.ok(BigInt(row.charged) <= BigInt(row.reserved));
      const event = JSON.parse((await receiptFlags(p, a.job_id, row.node_pubkey)).event);
      assert.equal(JSON.parse(event.content).error_code, "no_consumer_ack");
      // An ack after the job settled without one is too late, and says so.
      const late = await p.ack(a.job_id, consumerKey, { node: node.pubkey });
      const lateError = (await late.json()).error;
      assert.deepEqual([late.status, lateError.code], [404, "job_not_found"]);
      assert.match(lateError.message, /ended without an ack.*too late/);

      const b = await routed(p, getPublicKey(consumerKey));
      const ack = await p.ack(b.job_id, consumerKey, { node: node.pubkey });
      assert.equal(ack.status, 200);
      await ack.body?.cancel();
      const row2 = await settled(p, b.job_id);
      assert.equal(row2.charged, "0");
      assert.equal(row2.error_code, "no_node_receipt");
      assert.equal(row2.node_pubkey, null);
      await p.t.cp.recorder.flush();
      const [lease] = await db
        .sql`select count(*)::int as n from job_charges where job_id = ${b.job_id} and charged is null`;
      assert.equal(lease.n, 0, "the hold is released");
      assert.deepEqual(await reconcile(db.sql), []);
    } finally {
      await p.close();
    }
  },
);

testOnEachDatabase("route - forged, foreign, replayed and misaddressed acks are refused", async (db) => {
  const p = await openDirectPlane(db, { config: { directAckWaitMs: 60_000 } });
  try {
    const consumerKey = generateSecretKey();
    const node = p.nodes[0];
    const a = await routed(p, getPublicKey(consumerKey));
    const stranger = await p.ack(a.job_id, generateSecretKey(), { node: node.pubkey });
    assert.equal(stranger.status, 403);
    assert.equal((await stranger.json()).error.code, "ack_foreign");
    const wrongNode = await p.ack(a.job_id, consumerKey, { node: getPublicKey(generateSecretKey()) });
    assert.equal(wrongNode.status, 400);
    await wrongNode.body?.cancel();
    const unknownJob = await p.ack("job_nope", consumerKey, { node: node.pubkey });
    assert.equal(unknownJob.status, 404);
    await unknownJob.body?.cancel();
    const res = await p.app.request(`http://control.test/v1/route/${a.job_id}/usage`, {
      method: "POST",
      headers: { authorization: `Bearer ${p.t.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        kind: 7479,
        pubkey: "00".repeat(32),
        id: "00".repeat(32),
        sig: "00".repeat(64),
        created_at: 1,
        tags: [],
        content: "{}",
      }),
    });
    assert.equal(res.status, 403);
    assert.equal((await res.json()).error.code, "ack_forged");
    const first = await p.ack(a.job_id, consumerKey, { node: node.pubkey });
    assert.equal(first.status, 200);
    await first.body?.cancel();
    const replay = await p.ack(a.job_id, consumerKey, { node: node.pubkey });
    assert.equal(replay.status, 409);
    assert.equal((await replay.json()).error.code, "ack_replayed");
  } finally {
    await p.close();
  }
});

testOnEachDatabase(
  "route - a job with neither receipt nor ack is reaped: nothing billed, candidates forgotten",
  async (db) => {
    const p = await openDirectPlane(db, { count: 2, config: { directAckWaitMs: 60_000 } });
    try {
      const a = await routed(p, getPublicKey(generateSecretKey()));
      p.t.cp.runDeps.active.get(a.job_id)!.recordReaped();
      const row = await settled(p, a.job_id);
      assert.deepEqual([row.status, row.error_code, row.charged], ["timeout", "job_timeout", "0"]);
      assert.equal(p.t.cp.direct.terms(a.job_id), null);
      // The desk no longer expects the nodes' receipts: a late one is refused.
      const late = await p.nodeReceipt(
        p.nodes[0],
        a.job_id,
        { prompt_tokens: 1, completion_tokens: 1 },
        null,
      );
      assert.equal(late.ok, false);
      assert.deepEqual(await reconcile(db.sql), []);
    } finally {
      await p.close();
    }
  },
);
