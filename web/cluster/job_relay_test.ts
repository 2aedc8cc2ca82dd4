import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { createLogger, createNodeRecord, type NodeFrame, verifyNodeRecord } from "../../shared/mod.ts";
import { sampleAdvert } from "../../testing/node_advert.ts";
import { NodeConnection } from "../dispatch/node_connection.ts";
import { NodeRegistry } from "../registry/node_registry.ts";
import type { InboxFrame } from "./cluster_frames.ts";
import { JobRelay } from "./job_relay.ts";

const log = createLogger({ level: "silent" });

/** A registry with one node on a recording socket, and a relay whose sends are recorded. */
async function open(kv: Deno.Kv) {
  const registry = new NodeRegistry(kv);
  const sk = generateSecretKey();
  const pubkey = getPublicKey(sk);
  const record = verifyNodeRecord(createNodeRecord(sk, sampleAdvert()));
  assert.ok(record.ok);
  await registry.register(record.record);
  const toNode: Record<string, unknown>[] = [];
  const conn = new NodeConnection(pubkey, { send: (t) => void toNode.push(JSON.parse(t)), close() {} }, log);
  registry.attach(pubkey, conn);
  const sent: { to: string; frame: InboxFrame }[] = [];
  const relay = new JobRelay({
    instance: "cp_b",
    registry,
    log,
    send: (to, frame) => (sent.push({ to, frame }), true),
    waitMs: 60_000,
  });
  const job = (id: string, from = "cp_a"): Extract<InboxFrame, { t: "job" }> => ({
    t: "job",
    from,
    job: id,
    node: pubkey,
    kind: "chat",
    stream: true,
    body: { model: "m" },
  });
  const settle = () => new Promise((r) => setTimeout(r, 0));
  return { registry, pubkey, conn, toNode, sent, relay, job, settle };
}

async function withRelay(fn: (env: Awaited<ReturnType<typeof open>>) => Promise<void>) {
  const kv = await Deno.openKv(":memory:");
  try {
    await fn(await open(kv));
  } finally {
    kv.close();
  }
}

Deno.test("job relay - runs the job on the socket here and sends what queued in one message", async () => {
  await withRelay(async ({ conn, toNode, sent, relay, job, settle, pubkey }) => {
    relay.start(job("j1"));
    assert.equal((toNode[0] as { type: string; job_id: string }).job_id, "j1");
    const frames: NodeFrame[] = [
      { type: "chunks", job_id: "j1", data: ["a"] },
      { type: "chunks", job_id: "j1", data: ["b", "c"] },
      { type: "end", job_id: "j1" },
    ];
    for (const f of frames) conn.handleFrame(f);
    await settle();
    assert.deepEqual(sent, [{
      to: "cp_a",
      frame: {
        t: "ev",
        job: "j1",
        node: pubkey,
        evs: [{ type: "chunks", data: ["a", "b", "c"] }, { type: "end" }],
      },
    }]);
    assert.equal(relay.size, 0);
  });
});

Deno.test("job relay - the first chunk goes at once; the chunks right behind a later one join it", async () => {
  await withRelay(async ({ conn, sent, relay, job, pubkey }) => {
    relay.start(job("j1"));
    conn.handleFrame({ type: "chunks", job_id: "j1", data: ["a"] });
    // Nothing else is waited for: the first chunk is on its way within microtasks.
    for (let i = 0; i < 5; i++) await Promise.resolve();
    assert.deepEqual(sent.map((s) => s.frame), [{
      t: "ev",
      job: "j1",
      node: pubkey,
      evs: [{ type: "chunks", data: ["a"] }],
    }]);
    // A burst arriving a microtask apart, as frames read off one socket buffer do, crosses as one.
    conn.handleFrame({ type: "chunks", job_id: "j1", data: ["b"] });
    await Promise.resolve();
    conn.handleFrame({ type: "chunks", job_id: "j1", data: ["c"] });
    await Promise.resolve();
    conn.handleFrame({ type: "end", job_id: "j1" });
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(sent.slice(1).map((s) => s.frame), [{
      t: "ev",
      job: "j1",
      node: pubkey,
      evs: [{ type: "chunks", data: ["b", "c"] }, { type: "end" }],
    }]);
    assert.equal(relay.size, 0);
  });
});

Deno.test("job relay - a cancel from the origin, or the origin's death, stops the job on the node", async () => {
  await withRelay(async ({ toNode, sent, relay, job, settle }) => {
    relay.start(job("j1", "cp_a"));
    relay.start(job("j2", "cp_c"));
    relay.start(job("j3", "cp_c"));
    relay.cancel("j1", "client disconnected");
    relay.originGone("cp_c");
    await settle();
    const cancels = toNode.filter((f) => f.type === "cancel").map((f) => [f.job_id, f.reason]);
    assert.deepEqual(cancels, [
      ["j1", "client disconnected"],
      ["j2", "instance cp_c, which took the request, is gone"],
      ["j3", "instance cp_c, which took the request, is gone"],
    ]);
    assert.deepEqual(sent.map((s) => [s.to, (s.frame as { evs: { type: string }[] }).evs[0].type]), [
      ["cp_a", "lost"],
      ["cp_c", "lost"],
      ["cp_c", "lost"],
    ]);
    assert.equal(relay.size, 0);
  });
});

Deno.test("job relay - a node no longer here, or lost mid-job, is a lost event for the origin", async () => {
  await withRelay(async ({ conn, registry, sent, relay, job, settle, pubkey }) => {
    relay.start(job("j1"));
    conn.close("node socket closed");
    registry.detach(pubkey, conn);
    await settle();
    relay.start(job("j2"));
    assert.deepEqual(sent.map((s) => (s.frame as { evs: unknown[] }).evs), [
      [{ type: "lost", reason: "node socket closed" }],
      [{ type: "lost", reason: "the node is no longer connected to instance cp_b" }],
    ]);
  });
});
