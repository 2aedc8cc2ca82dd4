import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import {
  createNodeRecord,
  parseProviderPrefs,
  type VerifiedNodeRecord,
  verifyNodeRecord,
} from "../../shared/mod.ts";
import { sampleAdvert } from "../../testing/node_advert.ts";
import type { NodeConnection } from "../dispatch/node_connection.ts";
import { NodeRegistry, priorReputation } from "../registry/node_registry.ts";
import { RouteIndex } from "./route_index.ts";
import { selectNodes } from "./select_nodes.ts";

function record(sk: Uint8Array, models: string[], createdAt: number): VerifiedNodeRecord {
  const advert = sampleAdvert({
    nodeId: getPublicKey(sk).slice(0, 8),
    models: models.map((id) => ({ id, contextLength: null, promptPricePer1k: 1, completionPricePer1k: 1 })),
  });
  const r = verifyNodeRecord(createNodeRecord(sk, advert, createdAt));
  if (!r.ok) throw new Error(r.reason);
  return r.record;
}

Deno.test("route index - keeps a model's orders until its nodes or reputations change", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const registry = new NodeRegistry(kv);
    let clock = 0;
    const index = new RouteIndex(registry, { now: () => clock, reorderAfterMs: 1_000 });
    const [a, b] = [generateSecretKey(), generateSecretKey()];
    const now = Date.now();
    for (const sk of [a, b]) {
      await registry.register(record(sk, ["m"], 1), now);
      registry.attach(getPublicKey(sk), { open: true, inFlight: 0 } as unknown as NodeConnection, now);
    }
    const route = (model = "m") =>
      selectNodes(index.source(model), {
        model,
        provider: parseProviderPrefs(undefined),
        nowMs: now,
        staleMs: 90_000,
        explorationShare: 0,
      });
    const first = (model = "m") => {
      const r = route(model);
      return r.ok ? r.nodes.map((n) => n.record.pubkey) : r.reason;
    };
    registry.setReputation(getPublicKey(a), { ...priorReputation(), score: 0.9 });
    assert.deepEqual(first(), [getPublicKey(a), getPublicKey(b)]);
    // Nothing changed: the same orders are read again.
    assert.equal(index.source("m"), index.source("m"));
    // A new reputation: the orders are rebuilt within a second; meanwhile the nodes a walk takes
    // are still ranked on their live reputations, and a suspicion excludes at once.
    const before = index.source("m");
    registry.setReputation(getPublicKey(b), { ...priorReputation(), score: 1 });
    clock += 999;
    assert.equal(index.source("m"), before);
    assert.deepEqual(first(), [getPublicKey(b), getPublicKey(a)]);
    clock += 1;
    assert.notEqual(index.source("m"), before);
    registry.setReputation(getPublicKey(b), { ...priorReputation(), score: 1, suspicion: 0.99 });
    assert.deepEqual(first(), [getPublicKey(a)]);
    registry.setReputation(getPublicKey(b), { ...priorReputation(), score: 1 });
    // B re-registers without m, then with it again (at once); a made-up model is not kept.
    await registry.register(record(b, ["other"], 2), now);
    assert.deepEqual(first(), [getPublicKey(a)]);
    assert.deepEqual(first("other"), [getPublicKey(b)]);
    await registry.register(record(b, ["m", "other"], 3), now);
    assert.deepEqual(first(), [getPublicKey(b), getPublicKey(a)]);
    assert.equal(first("made-up"), "unknown_model");
    assert.notEqual(index.source("made-up"), index.source("made-up"));
  } finally {
    kv.close();
  }
});
