// Model keys: announcements and grants are checked, stored and served; /v1/route gives a model-key
// ticket to the candidates that hold a grant of the model's key, and only to them.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey, type NostrEvent } from "nostr-tools/pure";
import { createModelKeyAnnouncement, createModelKeyGrant } from "../../shared/direct/model_keys.ts";
import { verifyTicket } from "../../shared/direct/ticket.ts";
import { testOnEachDatabase } from "../../testing/databases.ts";
import { type DirectPlane, openDirectPlane } from "../../testing/direct_plane.ts";

function post(p: DirectPlane, path: string, event: NostrEvent): Promise<Response> {
  return Promise.resolve(p.app.request(`http://control.test${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(event),
  }));
}

testOnEachDatabase(
  "model keys - announced and granted by the publisher; route tickets name the key",
  async (db) => {
    const p = await openDirectPlane(db, { count: 2 });
    try {
      const publisher = generateSecretKey();
      const modelPubkey = getPublicKey(generateSecretKey());
      const now = Math.floor(Date.now() / 1000);
      const ann = createModelKeyAnnouncement(publisher, {
        model: "m",
        artifact_sha256: "cd".repeat(32),
        model_pubkey: modelPubkey,
        created_at: now,
      });
      const created = await post(p, "/api/model-keys", ann);
      assert.equal(created.status, 201);
      assert.deepEqual(await created.json(), { model_pubkey: modelPubkey, event_id: ann.id });
      const again = await post(p, "/api/model-keys", ann);
      assert.equal(again.status, 200);
      await again.body?.cancel();
      const tampered = await post(p, "/api/model-keys", {
        ...ann,
        content: ann.content.replace('"m"', '"x"'),
      });
      assert.equal(tampered.status, 400);
      await tampered.body?.cancel();

      const granted = p.nodes[1].pubkey;
      const grant = createModelKeyGrant(publisher, {
        node: granted,
        announcement: ann.id,
        sealedSecret: "AgSealedToTheNode==",
        createdAt: now,
      });
      const g = await post(p, "/api/model-keys/grants", grant);
      assert.equal(g.status, 201);
      await g.body?.cancel();
      const byStranger = createModelKeyGrant(generateSecretKey(), {
        node: p.nodes[0].pubkey,
        announcement: ann.id,
        sealedSecret: "AgX==",
        createdAt: now,
      });
      const refused = await post(p, "/api/model-keys/grants", byStranger);
      assert.equal(refused.status, 400);
      assert.equal((await refused.clone().json()).error.code, "model_key_forged");
      await refused.body?.cancel();
      const orphan = createModelKeyGrant(publisher, {
        node: p.nodes[0].pubkey,
        announcement: "ee".repeat(32),
        sealedSecret: "AgX==",
        createdAt: now,
      });
      const missing = await post(p, "/api/model-keys/grants", orphan);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();

      const keys = await (await p.app.request("http://control.test/api/model-keys?model=m")).json();
      assert.deepEqual(keys, JSON.parse(JSON.stringify({ model: "m", keys: [ann] })));
      const grants = await (await p.app.request(`http://control.test/api/model-keys/grants?node=${granted}`))
        .json();
      assert.deepEqual(
        grants,
        JSON.parse(JSON.stringify({ node: granted, grants: [{ model_pubkey: modelPubkey, grant }] })),
      );

      const res = await p.route({
        model: "m",
        prompt_tokens: 10,
        consumer: getPublicKey(generateSecretKey()),
        target: "model",
      });
      assert.equal(res.status, 200);
      const a = await res.json();
      assert.deepEqual(a.candidates.map((c: { node: string }) => c.node), [granted]);
      assert.equal(a.candidates[0].model_key, modelPubkey);
      const v = verifyTicket(a.candidates[0].ticket, {
        platformPubkey: p.t.cp.platformKey.pubkey,
        node: granted,
        nowS: now,
      });
      assert.ok(v.ok);
      assert.equal(v.ticket.content.target, "model");
      assert.equal(v.ticket.content.model_key, modelPubkey);
    } finally {
      await p.close();
    }
  },
);
