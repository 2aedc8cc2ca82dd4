// Both sides of verification (issue 27): honest nodes are never flagged over hundreds of canaries,
// and a node lying in each way the test engine can lie is caught within 20. Nodes run in-process
// on the test engine (they sign no receipts of their own); the control plane's receipt desk
// countersigns each canary job and the reputation service turns verdicts into suspicion.
import assert from "node:assert/strict";
import {
  accountBalance,
  consumerBalance,
  listVerifications,
  operatorEarnings,
  receiptsForJob,
  reconcile,
} from "../../db/mod.ts";
import { verifyVerification } from "../../shared/mod.ts";
import { createApp } from "../app.ts";
import { openTestControlPlane } from "../../testing/control_plane.ts";
import { fundOperatorEarnings } from "../../testing/funding.ts";
import { attachEngineNode } from "../../testing/engine_node.ts";
import { createTestEngineHandler } from "../../testing/test_engine.ts";
import {
  CANARY_TEST_CONFIG as CONFIG,
  type CanaryNet,
  withCanaryNet as withNet,
} from "../../testing/canary_net.ts";
import { createCanaryScheduler } from "./canary_wiring.ts";

const THRESHOLD = 0.9;

function consumerChat(net: CanaryNet, content: string): Promise<Response> {
  return Promise.resolve(net.app.request("http://control.test/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${net.t.apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "m", messages: [{ role: "user", content }] }),
  }));
}

Deno.test("canaries - honest nodes pass 200 canaries, are paid from platform fees, never flagged", async () => {
  await withNet(async (net) => {
    const honest = [await net.node(), await net.node()];
    const sql = net.t.cp.db.sql;
    const consumerBefore = await accountBalance(sql, consumerBalance(1n));
    const earnedBefore = await Promise.all(
      honest.map((n) => accountBalance(sql, operatorEarnings(n.pubkey))),
    );
    const outcomes = await net.canaries.runCanaries(200);
    assert.equal(outcomes.length, 200);
    const verdicts = outcomes.flatMap((o) => o.verdicts);
    const failed = verdicts.filter((v) => !v.pass);
    assert.deepEqual(failed, [], "no honest answer fails a check");
    for (const check of ["canary", "cross_check", "metering"] as const) {
      assert.ok(verdicts.some((v) => v.check === check), `some ${check} checks ran`);
    }
    for (const n of honest) {
      assert.ok(net.suspicion(n.pubkey) < 0.01, `suspicion ${net.suspicion(n.pubkey)}`);
      const page = await listVerifications(sql, { node: n.pubkey, limit: 1000 });
      assert.ok(page.rows.length >= 100);
      const checked = verifyVerification(JSON.parse(page.rows[0].event), net.t.cp.platformKey.pubkey);
      assert.ok(checked.ok, JSON.stringify(checked));
      // Its `e` is the platform receipt of the job it checked.
      const receipts = await receiptsForJob(sql, page.rows[0].jobId);
      assert.deepEqual(receipts.map((r) => JSON.parse(r.event).id), [page.rows[0].receiptEventId]);
    }
    // Money: operators earned from canaries, no consumer paid, the canary key is its own account.
    const earned = await Promise.all(honest.map((n) => accountBalance(sql, operatorEarnings(n.pubkey))));
    for (const [i, e] of earned.entries()) {
      assert.ok(e > earnedBefore[i], "canaries are paid to the operator");
    }
    assert.equal(await accountBalance(sql, consumerBalance(1n)), consumerBefore);
    const [canaryKey] = await sql<{ id: bigint }[]>`select id from api_keys where platform`;
    assert.ok(await accountBalance(sql, consumerBalance(canaryKey.id)) > 0n);
    const [{ n: consumerJobs }] = await sql<{ n: number }[]>`
      select count(*)::int as n from jobs where api_key_id <> ${canaryKey.id} and status = 'completed'`;
    assert.equal(consumerJobs, 1, "only the funding job was a consumer's");
    assert.deepEqual(await reconcile(sql), []);
  });
});

for (const lie of ["other_model", "truncate", "inflate_usage"] as const) {
  Deno.test(`canaries - a node that lies (${lie}) is suspected within 20 canaries, honest ones are not`, async () => {
    await withNet(async (net) => {
      const honest = [await net.node(), await net.node()];
      // Earlier canaries on the honest nodes: references exist for cross-checks.
      await net.canaries.runCanaries(40);
      const liar = await net.node(lie);
      let caughtAfter = 0;
      for (let i = 1; i <= 20 && !caughtAfter; i++) {
        const [outcome] = await net.canaries.runCanaries(1, liar.pubkey);
        assert.equal(outcome.status, 200);
        if (net.suspicion(liar.pubkey) >= THRESHOLD) caughtAfter = i;
      }
      assert.ok(caughtAfter > 0, `not caught: suspicion ${net.suspicion(liar.pubkey)}`);
      for (const n of honest) assert.ok(net.suspicion(n.pubkey) < 0.01);
      // The rate grows with suspicion: the liar is due again long before an honest node.
      const at = Date.now() + 2 * 60_000;
      const jobs = { models: ["m"], jobsServed: 0 };
      assert.ok(net.canaries.isDue({ pubkey: liar.pubkey, ...jobs }, at));
      assert.ok(!net.canaries.isDue({ pubkey: honest[0].pubkey, ...jobs }, at));
    });
  });
}

Deno.test({
  name: "canaries - a suspected node loses its consumer traffic to the honest node, canaries still reach it",
  fn: async () => {
    await withNet(async (net) => {
      const honest = await net.node();
      // The honest node shows the model can meet rule-checked canaries.
      await net.canaries.runCanaries(6, honest.pubkey);
      const liar = await net.node("other_model");
      for (let i = 0; i < 20 && net.suspicion(liar.pubkey) < THRESHOLD; i++) {
        await net.canaries.runCanaries(1, liar.pubkey);
      }
      assert.ok(net.suspicion(liar.pubkey) >= THRESHOLD);
      for (let i = 0; i < 10; i++) {
        const res = await consumerChat(net, `question number ${i}`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("x-infernet-node"), honest.pubkey);
        await res.body?.cancel();
      }
      // A consumer cannot reach it by pinning it either: only the platform's key includes suspects.
      const pinned = await net.app.request("http://control.test/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${net.t.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({
          model: "m",
          messages: [{ role: "user", content: "hi" }],
          provider: { only: [liar.pubkey], allow_fallbacks: false },
        }),
      });
      assert.notEqual(pinned.status, 200);
      await pinned.body?.cancel();
      const [outcome] = await net.canaries.runCanaries(1, liar.pubkey);
      assert.equal(outcome.status, 200, "canaries still reach a suspected node");
    });
  },
});

Deno.test("canaries - pause once the platform's fees cannot fund them, and resume", async () => {
  const t = await openTestControlPlane({ config: CONFIG });
  try {
    const app = createApp(t.cp);
    await attachEngineNode(t.cp, createTestEngineHandler({ models: ["m"] }).handler);
    const warnings: string[] = [];
    const log = { ...t.cp.log, warn: (msg: string) => void warnings.push(msg) };
    const canaries = createCanaryScheduler({ ...t.cp, log }, (req) => app.fetch(req));
    assert.deepEqual(await canaries.runCanaries(3), []);
    assert.ok(canaries.paused);
    assert.equal(warnings.length, 1, "logged once");
    await fundOperatorEarnings(t.cp.db.sql, "ab".repeat(32), 9_000n);
    assert.equal((await canaries.runCanaries(2)).length, 2);
    assert.ok(!canaries.paused);
    assert.deepEqual(await reconcile(t.cp.db.sql), []);
  } finally {
    await t.close();
  }
});

Deno.test("canaries - a node's first canary waits for its share of jobs or the floor", async () => {
  const t = await openTestControlPlane({ config: CONFIG });
  try {
    const canaries = createCanaryScheduler(t.cp, () => new Response(null, { status: 500 }), {
      suspicionOf: () => 0.01,
    }, {
      rate: 0.01,
      floorMs: 30 * 60_000,
    });
    const node = { pubkey: "ab".repeat(32), models: ["m"], jobsServed: 10 };
    const now = Date.now();
    assert.equal(canaries.isDue(node, now), false, "first seen: counting starts");
    assert.equal(
      canaries.isDue({ ...node, jobsServed: 60 }, now + 61_000),
      false,
      "50 jobs x 0.01 x 1.5 < 1",
    );
    assert.equal(canaries.isDue({ ...node, jobsServed: 80 }, now + 61_000), true, "70 jobs x 0.015 >= 1");
    assert.equal(canaries.isDue({ ...node, jobsServed: 80 }, now + 30_000), false, "never twice a minute");
    assert.equal(canaries.isDue(node, now + 19 * 60_000), false);
    assert.equal(
      canaries.isDue(node, now + 20 * 60_000),
      true,
      "the floor, shortened by the prior suspicion",
    );
  } finally {
    await t.close();
  }
});

Deno.test("canaries - answers are compared within a declared quantization: an int4 build is not judged by fp16", async () => {
  await withNet(async (net) => {
    const model = (quantization: "fp16" | "int4") => ({
      models: [{
        id: "m",
        contextLength: 4096,
        promptPricePer1k: 1000,
        completionPricePer1k: 1000,
        quantization,
      }],
    });
    const fp16 = [
      await net.engineNode(createTestEngineHandler({ models: ["m"] }).handler, model("fp16")),
      await net.engineNode(createTestEngineHandler({ models: ["m"] }).handler, model("fp16")),
    ];
    // Answers differently from the fp16 builds (as a quantized build may): declared as int4, it has no
    // int4 peer to disagree with, so it is only checked against itself.
    const int4 = await net.engineNode(
      createTestEngineHandler({ models: ["m"], lie: "other_model" }).handler,
      model("int4"),
    );
    // The same different answers declared as fp16 disagree with the two honest fp16 builds.
    const false16 = await net.engineNode(
      createTestEngineHandler({ models: ["m"], lie: "other_model" }).handler,
      model("fp16"),
    );
    // One question prompt (no rule to check it) every time, so every node answers the same.
    const canaries = createCanaryScheduler(net.t.cp, (req) => net.app.fetch(req), {}, { random: () => 0.7 });
    const failedChecks = new Map<string, string[]>();
    for (let i = 0; i < 4; i++) {
      for (const n of [...fp16, int4, false16]) {
        const outcome = await canaries.runOne(canaryNode(net, n.pubkey));
        const failed = outcome?.verdicts.filter((v) => !v.pass).map((v) => v.check) ?? [];
        failedChecks.set(n.pubkey, [...failedChecks.get(n.pubkey) ?? [], ...failed]);
      }
    }
    assert.ok(
      !failedChecks.get(int4.pubkey)!.includes("cross_check"),
      "int4 is not cross-checked against fp16",
    );
    assert.ok(
      failedChecks.get(false16.pubkey)!.includes("cross_check"),
      "a false fp16 fails the cross-check",
    );
    for (const n of fp16) assert.deepEqual(failedChecks.get(n.pubkey), []);
  });
});

function canaryNode(net: CanaryNet, pubkey: string) {
  const node = net.t.cp.registry.get(pubkey)!;
  return {
    pubkey,
    models: ["m"],
    quantizations: { m: node.record.models[0].quantization ?? "unknown" },
    jobsServed: 0,
  };
}
