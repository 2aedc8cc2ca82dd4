import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { npubEncode } from "nostr-tools/nip19";
import { insertVerifications } from "../../db/mod.ts";
import { createVerification, nostrDid, verifyVerification } from "../../shared/mod.ts";
import { openTestControlPlane } from "../../testing/control_plane.ts";
import { createApp } from "../app.ts";

Deno.test("verifications api - pages a node's signed verdicts by hex or npub, refuses bad queries", async () => {
  const t = await openTestControlPlane();
  try {
    const platform = generateSecretKey();
    const node = getPublicKey(generateSecretKey());
    const events = Array.from({ length: 5 }, (_, i) =>
      createVerification(platform, {
        task_id: `job_${i}`,
        agent_did: nostrDid(node),
        receipt: "ee".repeat(32),
        check: "canary",
        result: i === 3 ? "fail" : "pass",
        detail: `check ${i}`,
        created_at: 1_700_000_000 + i,
      }));
    await insertVerifications(
      t.cp.db.sql,
      events.map((e, i) => ({
        eventId: e.id,
        receiptEventId: "ee".repeat(32),
        jobId: `job_${i}`,
        nodePubkey: node,
        checkKind: "canary",
        result: i === 3 ? "fail" : "pass",
        detail: `check ${i}`,
        createdAt: e.created_at,
        event: JSON.stringify(e),
      })),
    );
    const app = createApp(t.cp);
    const get = (query: string) => Promise.resolve(app.request(`http://cp.test/api/verifications?${query}`));
    const seen: string[] = [];
    let next: string | null = null;
    for (let page = 0; page < 5; page++) {
      const ref: string = page % 2 ? node : npubEncode(node);
      const res = await get(`node=${ref}&limit=2${next ? `&after=${next}` : ""}`);
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.node, node);
      for (const e of body.verifications) {
        assert.ok(verifyVerification(e, getPublicKey(platform)).ok);
        seen.push(e.id);
      }
      next = body.next;
      if (!next) break;
    }
    assert.deepEqual(seen, events.map((e) => e.id));
    for (const bad of ["", "node=xyz", `node=${node}&limit=0`, `node=${node}&after=nope`]) {
      const res = await get(bad);
      assert.equal(res.status, 400, bad);
      assert.equal((await res.json()).error.code, "invalid_request");
    }
    const other = await (await get(`node=${"ab".repeat(32)}`)).json();
    assert.deepEqual(other, { node: "ab".repeat(32), verifications: [], next: null });
  } finally {
    await t.close();
  }
});
