// Reputation on the control plane: the service fills the registry from the database, one node is
// refreshed after a new result, and GET /api/reputation answers what anyone can recompute.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { npubEncode } from "nostr-tools/nip19";
import {
  computeReputation,
  createNodeRecord,
  type ReputationReceipt,
  type ReputationVerification,
  verifyNodeRecord,
} from "../../shared/mod.ts";
import { openTestControlPlane, type TestControlPlane } from "../../testing/control_plane.ts";
import { sampleAdvert } from "../../testing/node_advert.ts";
import {
  ensureVerificationsTable,
  insertReceiptRows,
  insertVerificationRows,
} from "../../testing/reputation_rows.ts";
import { createApp } from "../app.ts";

const H = 604_800;

function receipt(createdAt: number, over: Partial<ReputationReceipt> = {}): ReputationReceipt {
  return {
    createdAt,
    outcome: "success",
    cancelledBy: null,
    signed: true,
    meteringDisagrees: false,
    artifactMismatch: false,
    ttftMs: 200,
    durationMs: 2200,
    completionTokens: 100,
    ...over,
  };
}

async function withControlPlane(fn: (t: TestControlPlane, pubkey: string) => Promise<void>): Promise<void> {
  const t = await openTestControlPlane({ config: { reputationRefreshMs: 0, reputationHalfLifeS: H } });
  try {
    // The pass started at open ran before the verifications table below existed.
    await t.cp.reputation.refreshAll().catch(() => {});
    await ensureVerificationsTable(t.cp.db.sql);
    const sk = generateSecretKey();
    const record = verifyNodeRecord(createNodeRecord(sk, sampleAdvert()));
    assert.ok(record.ok);
    await t.cp.registry.register(record.record);
    await fn(t, getPublicKey(sk));
  } finally {
    await t.close();
  }
}

Deno.test("reputation service - fills the registry, and one node again after a failed verification", async () => {
  await withControlPlane(async (t, pubkey) => {
    const now = Math.floor(Date.now() / 1000);
    const receipts = [
      receipt(now - 60),
      receipt(now - 3600, { outcome: "failure" }),
      receipt(now - H, { signed: false }),
      receipt(now - 10, { outcome: "cancelled", cancelledBy: "consumer" }),
    ];
    await insertReceiptRows(t.cp.db.sql, pubkey, receipts);
    assert.equal(await t.cp.reputation.refreshAll(), 1);
    const rep = t.cp.registry.get(pubkey)!.reputation!;
    const want = computeReputation(receipts, [], { at: Math.floor(rep.updatedAt / 1000), halfLifeS: H });
    assert.ok(Math.abs(rep.score - want.score) < 1e-12, `${rep.score} vs ${want.score}`);
    assert.ok(Math.abs(rep.samples - want.samples) < 1e-12);
    assert.equal(rep.ttftMs, 200);
    assert.equal(rep.tokensPerSecond, 50);

    const fail: ReputationVerification = { createdAt: now, result: "fail" };
    await insertVerificationRows(t.cp.db.sql, pubkey, [fail]);
    const a = t.cp.reputation.refresh(pubkey);
    assert.equal(t.cp.reputation.refresh(pubkey), a, "a burst of refreshes is one query");
    const after = await a;
    assert.ok(after.suspicion > 0.5 && after.suspicion < 0.51);
    assert.equal(t.cp.registry.get(pubkey)!.reputation!.suspicion, after.suspicion);
  });
});

Deno.test("reputation api - answers a node's score with what recomputing it needs", async () => {
  await withControlPlane(async (t, pubkey) => {
    const now = Math.floor(Date.now() / 1000);
    const receipts = Array.from({ length: 20 }, (_, i) => receipt(now - i * 7200, { ttftMs: 100 + i }));
    const verifications: ReputationVerification[] = [{ createdAt: now - 86_400, result: "pass" }];
    await insertReceiptRows(t.cp.db.sql, pubkey, receipts);
    await insertVerificationRows(t.cp.db.sql, pubkey, verifications);
    const app = createApp(t.cp);
    for (const key of [pubkey, npubEncode(pubkey)]) {
      const res = await app.request(`/api/reputation/${key}`);
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.pubkey, pubkey);
      assert.equal(body.npub, npubEncode(pubkey));
      assert.equal(body.formula, 1);
      assert.equal(body.half_life_s, H);
      assert.ok(body.computed_at <= Math.floor(Date.now() / 1000) - 60, "a minute behind, so all is written");
      const want = computeReputation(receipts, verifications, { at: body.computed_at, halfLifeS: H });
      assert.ok(Math.abs(body.score - want.score) <= 1e-12, `${body.score} vs ${want.score}`);
      assert.ok(Math.abs(body.components.ttft_ms - want.components.ttftMs!) < 1e-9);
      assert.deepEqual(Object.keys(body.components).sort(), [
        "artifact_mismatches",
        "bad",
        "failures",
        "good",
        "metering_disagreements",
        "node_cancellations",
        "successes",
        "timeouts",
        "tokens_per_second",
        "ttft_ms",
        "unsigned",
        "verification_failures",
        "verification_passes",
      ]);
    }
    const unknown = await (await app.request(`/api/reputation/${"e".repeat(64)}`)).json();
    assert.equal(unknown.samples, 0);
    assert.equal(unknown.reliability, 0.75);
    const bad = await app.request("/api/reputation/npub1nope");
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.param, "key");
  });
});

Deno.test("reputation service - running totals follow each written receipt and agree with the database", async () => {
  await withControlPlane(async (t, pubkey) => {
    const sql = t.cp.db.sql;
    const now = Math.floor(Date.now() / 1000);
    // A history in the database, read once into the running total.
    await insertReceiptRows(sql, pubkey, [
      receipt(now - 86_400),
      receipt(now - 7200, { outcome: "failure" }),
    ]);
    await t.cp.reputation.refresh(pubkey);
    const before = t.cp.registry.get(pubkey)!.reputation;
    // New receipts written through the desk reach the total without a query: one good, two bad.
    const facts = (jobId: string, outcome: "success" | "timeout") => ({
      jobId,
      nodePubkey: pubkey,
      kind: "chat" as const,
      model: "m",
      apiKeyId: 1n,
      outcome,
      cancelledBy: null,
      errorCode: null,
      artifactHash: null,
      reported: null,
      counted: null,
      billed: { prompt_tokens: 10, completion_tokens: 20 },
      amountNano: 0n,
      ttftMs: 30,
      durationMs: 300,
    });
    for (
      const [id, outcome] of [["job_r1", "success"], ["job_r2", "timeout"], ["job_r3", "timeout"]] as const
    ) {
      t.cp.receipts.attemptEnded(facts(id, outcome));
    }
    await t.cp.receipts.flush();
    const running = t.cp.registry.get(pubkey)!.reputation;
    assert.ok(running.samples > before.samples + 2.9, `samples ${before.samples} → ${running.samples}`);
    assert.ok(running.score < before.score, "two timeouts lower the score");
    // The database's exact recomputation at the same time agrees.
    const exact = await t.cp.reputation.compute(pubkey, { at: running.updatedAt / 1000, halfLifeS: H });
    assert.ok(Math.abs(exact.score - running.score) < 1e-9, `${exact.score} vs ${running.score}`);
    assert.ok(Math.abs(exact.samples - running.samples) < 1e-9);
  });
});
