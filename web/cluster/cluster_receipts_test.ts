import assert from "node:assert/strict";
import { createLogger } from "../../shared/mod.ts";
import { openMigratedPglite } from "../../testing/databases.ts";
import { ephemeralPlatformKey } from "../receipts/platform_key.ts";
import type { AttemptFacts } from "../receipts/receipt_desk.ts";
import type { InboxFrame } from "./cluster_frames.ts";
import { ClusterReceiptDesk } from "./cluster_receipts.ts";

const log = createLogger({ level: "silent" });

function facts(jobId: string, nodePubkey: string): AttemptFacts {
  return {
    jobId,
    nodePubkey,
    kind: "chat",
    model: "m1",
    apiKeyId: 7n,
    outcome: "success",
    cancelledBy: null,
    errorCode: null,
    artifactHash: null,
    reported: { prompt_tokens: 5, completion_tokens: 1 },
    counted: { prompt_tokens: 5, completion_tokens: 1 },
    billed: { prompt_tokens: 5, completion_tokens: 1 },
    amountNano: 1200n,
    ttftMs: 3,
    durationMs: 9,
  };
}

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
    // Not in the turn that ends the job (the consumer's answer is still to be written).
    await new Promise((r) => setTimeout(r, 0));
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
