import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { createNodeRecord, type VerifiedNodeRecord, verifyNodeRecord } from "../../shared/mod.ts";
import { sampleAdvert } from "../../testing/node_advert.ts";
import type { NodeLink } from "../dispatch/node_link.ts";
import { NodeRegistry, priorReputation } from "./node_registry.ts";

function record(sk: Uint8Array, models: string[], createdAt: number): VerifiedNodeRecord {
  const advert = sampleAdvert({
    models: models.map((id) => ({ id, contextLength: null, promptPricePer1k: 1, completionPricePer1k: 1 })),
  });
  const r = verifyNodeRecord(createNodeRecord(sk, advert, createdAt));
  if (!r.ok) throw new Error(r.reason);
  return r.record;
}

const pubkeys = (registry: NodeRegistry, model: string) =>
  registry.serving(model).map((n) => n.record.pubkey).sort();

Deno.test("registry - the per-model index follows re-registrations that change a node's models", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const registry = new NodeRegistry(kv);
    const [ska, skb] = [generateSecretKey(), generateSecretKey()];
    const [pa, pb] = [getPublicKey(ska), getPublicKey(skb)];
    const both = [pa, pb].sort();
    await registry.register(record(ska, ["x", "y"], 1));
    await registry.register(record(skb, ["y"], 1));
    assert.deepEqual(pubkeys(registry, "x"), [pa]);
    assert.deepEqual(pubkeys(registry, "y"), both);
    assert.deepEqual(pubkeys(registry, "z"), []);
    // A drops x and adds z; B re-registers the same models: no duplicates, nothing stale.
    await registry.register(record(ska, ["y", "z"], 2));
    await registry.register(record(skb, ["y"], 2));
    assert.deepEqual(pubkeys(registry, "x"), []);
    assert.deepEqual(pubkeys(registry, "y"), both);
    assert.deepEqual(pubkeys(registry, "z"), [pa]);
    // The index holds the live entries themselves, so the router sees heartbeats and sockets.
    assert.equal(registry.serving("z")[0], registry.get(pa));
    // A restart rebuilds the same index from KV.
    const reloaded = new NodeRegistry(kv);
    assert.equal(await reloaded.load(), 2);
    assert.deepEqual(pubkeys(reloaded, "x"), []);
    assert.deepEqual(pubkeys(reloaded, "y"), both);
    assert.deepEqual(pubkeys(reloaded, "z"), [pa]);
    // Loading again over a live registry changes nothing.
    await reloaded.load();
    assert.deepEqual(pubkeys(reloaded, "y"), both);
  } finally {
    kv.close();
  }
});

Deno.test("registry - a node starts at the prior reputation, which setReputation replaces and keeps", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const registry = new NodeRegistry(kv);
    const sk = generateSecretKey();
    const pubkey = getPublicKey(sk);
    await registry.register(record(sk, ["m"], 1));
    assert.deepEqual(registry.get(pubkey)!.reputation, {
      score: 0.7425,
      suspicion: 0.01,
      reliability: 0.75,
      samples: 0,
      ttftMs: null,
      tokensPerSecond: null,
      updatedAt: 0,
    });
    const rep = {
      score: 0.9,
      suspicion: 0.2,
      reliability: 0.95,
      samples: 42.5,
      ttftMs: 120,
      tokensPerSecond: 55,
      updatedAt: 7,
    };
    const [version, reputationVersion] = [registry.servingVersion("m"), registry.reputationVersion("m")];
    assert.equal(registry.setReputation(pubkey, rep), true);
    // The router's orders learn of it: the reputation version moves, the membership one does not.
    assert.equal(registry.servingVersion("m"), version);
    assert.notEqual(registry.reputationVersion("m"), reputationVersion);
    rep.score = 0; // the registry keeps its own copy
    assert.equal(registry.get(pubkey)!.reputation.score, 0.9);
    // A re-registration keeps the track record, and the stats are still kept beside it.
    await registry.register(record(sk, ["m"], 2));
    registry.recordOutcome(pubkey, true, 100);
    assert.equal(registry.get(pubkey)!.reputation.samples, 42.5);
    assert.deepEqual(registry.get(pubkey)!.stats, { successes: 1, failures: 0, ttftEwmaMs: 100 });
    assert.equal(registry.setReputation("f".repeat(64), priorReputation()), false);
  } finally {
    kv.close();
  }
});

Deno.test("registry - a listener hears what happens here, not what another instance adopted", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const registry = new NodeRegistry(kv);
    const heard: string[] = [];
    registry.listen({
      registered: (r) => heard.push(`registered ${r.nodeId}`),
      heartbeat: (_p, body) => heard.push(`heartbeat ${body.in_flight}`),
      attached: () => heard.push("attached"),
      detached: () => heard.push("detached"),
    });
    const [ska, skb] = [generateSecretKey(), generateSecretKey()];
    await registry.register(record(ska, ["x"], 1));
    // Adopted: served from memory, never stored in this instance's KV, told to nobody.
    assert.equal(registry.adopt(record(skb, ["x"], 1), 5), "created");
    assert.equal(registry.serving("x").length, 2);
    assert.equal((await kv.get(["nodes", getPublicKey(skb)])).value, null);
    const hb = { node_id: "n1", load: 0, free_slots: 1, in_flight: 1, models: ["x"] };
    assert.ok(registry.heartbeat(getPublicKey(ska), hb));
    assert.ok(registry.heartbeat(getPublicKey(skb), hb, 6, { quiet: true }));
    assert.equal(registry.get(getPublicKey(skb))!.lastHeartbeatAt, 6);
    const link = { open: true, inFlight: 0 } as unknown as NodeLink;
    registry.attach(getPublicKey(ska), link);
    registry.detach(getPublicKey(ska), link);
    registry.detach(getPublicKey(ska), link); // no longer its link: nothing to tell
    assert.deepEqual(heard, ["registered n1", "heartbeat 1", "attached", "detached"]);
  } finally {
    kv.close();
  }
});
