// The node API over HTTP, in-process: NIP-98 forged, replayed, stale and mismatched requests get
// 401 with the reason, and change nothing.
import { sampleAdvert } from "../../../testing/node_advert.ts";
import assert from "node:assert/strict";
import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { npubEncode } from "nostr-tools/nip19";
import { base64 } from "@scure/base";
import { createNip98Header, createNodeRecord, nowSeconds, payloadHash } from "../../../shared/mod.ts";
import { createApp } from "../../app.ts";
import { openTestControlPlane } from "../../../testing/control_plane.ts";

const BASE = "http://control.test";
const advert = sampleAdvert();

async function withApp(
  fn: (
    app: ReturnType<typeof createApp>,
    cp: Awaited<ReturnType<typeof openTestControlPlane>>["cp"],
  ) => Promise<void>,
) {
  const t = await openTestControlPlane();
  try {
    await fn(createApp(t.cp), t.cp);
  } finally {
    await t.close();
  }
}

function post(app: ReturnType<typeof createApp>, path: string, body: string, authorization?: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (authorization) headers.authorization = authorization;
  return app.request(BASE + path, { method: "POST", body, headers });
}

async function reason(res: Response): Promise<string> {
  return (await res.json()).error.message;
}

Deno.test("node api - registers a signed record, then accepts its heartbeat", async () => {
  await withApp(async (app, cp) => {
    const sk = generateSecretKey();
    const body = JSON.stringify(createNodeRecord(sk, advert));
    const url = BASE + "/api/nodes/register";
    const res = await post(app, "/api/nodes/register", body, createNip98Header(sk, url, "POST", body));
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal((await res.json()).node.pubkey, getPublicKey(sk));
    assert.ok(cp.registry.get(getPublicKey(sk)));
    const hb = JSON.stringify({ node_id: "n1", load: 0, free_slots: 2, in_flight: 0, models: ["m"] });
    const hbUrl = BASE + "/api/nodes/heartbeat";
    const res2 = await post(app, "/api/nodes/heartbeat", hb, createNip98Header(sk, hbUrl, "POST", hb));
    assert.equal(res2.status, 200, await res2.clone().text());
    await res2.body?.cancel();
  });
});

Deno.test("node api - a node's status by hex key or npub, one segment; the other /api/nodes routes answer first", async () => {
  await withApp(async (app) => {
    const sk = generateSecretKey();
    const pubkey = getPublicKey(sk);
    const body = JSON.stringify(createNodeRecord(sk, advert));
    const reg = await post(
      app,
      "/api/nodes/register",
      body,
      createNip98Header(sk, BASE + "/api/nodes/register", "POST", body),
    );
    assert.equal(reg.status, 201, await reg.clone().text());
    await reg.body?.cancel();
    const get = (path: string) => app.request(BASE + path);
    for (const ref of [pubkey, npubEncode(pubkey)]) {
      const res = await get(`/api/nodes/${ref}`);
      assert.equal(res.status, 200, ref);
      const status = await res.json();
      assert.equal(status.pubkey, pubkey);
      assert.equal(status.connected, false);
    }
    const unknown = await get(`/api/nodes/${getPublicKey(generateSecretKey())}`);
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error.code, "node_not_registered");
    for (const path of [`/api/nodes/${pubkey}/more`, "/api/nodes/", "/api/nodes"]) {
      const res = await get(path);
      assert.equal(res.status, 404, path);
      assert.equal((await res.json()).error.code, "not_found", path);
    }
    // Static siblings are theirs, not a key's.
    const socket = await get("/api/nodes/ws");
    assert.equal(socket.status, 426);
    await socket.body?.cancel();
    const payouts = await get("/api/nodes/payouts");
    assert.equal(payouts.status, 401);
    await payouts.body?.cancel();
  });
});

Deno.test("node api - unsigned, forged, stale, replayed and mismatched requests get 401 and change nothing", async () => {
  await withApp(async (app, cp) => {
    const sk = generateSecretKey();
    const body = JSON.stringify(createNodeRecord(sk, advert));
    const url = BASE + "/api/nodes/register";
    const path = "/api/nodes/register";
    const expect401 = async (res: Response, pattern: RegExp) => {
      assert.equal(res.status, 401);
      assert.match(await reason(res), pattern);
    };
    await expect401(await post(app, path, body), /missing Authorization/);
    // Forged: signed by another key but claiming this pubkey.
    const other = generateSecretKey();
    const e = finalizeEvent({
      kind: 27235,
      created_at: nowSeconds(),
      content: "",
      tags: [["u", url], ["method", "POST"], ["payload", payloadHash(body)]],
    }, other);
    const forged = { ...e, pubkey: getPublicKey(sk) };
    await expect401(
      await post(app, path, body, "Nostr " + base64.encode(new TextEncoder().encode(JSON.stringify(forged)))),
      /signature/,
    );
    await expect401(
      await post(app, path, body, createNip98Header(sk, url, "POST", body, nowSeconds() - 120)),
      /stale/,
    );
    await expect401(
      await post(app, path, body, createNip98Header(sk, BASE + "/api/nodes/heartbeat", "POST", body)),
      /u tag/,
    );
    await expect401(await post(app, path, body, createNip98Header(sk, url, "GET", body)), /method/);
    await expect401(await post(app, path, body, createNip98Header(sk, url, "POST", body + " ")), /payload/);
    // Signed by a valid key, but the record inside is another key's.
    const alien = JSON.stringify(createNodeRecord(other, advert));
    await expect401(await post(app, path, alien, createNip98Header(sk, url, "POST", alien)), /different key/);
    assert.equal(cp.registry.all().length, 0);
    // Replay: the first use succeeds, the identical second is refused.
    const auth = createNip98Header(sk, url, "POST", body);
    const first = await post(app, path, body, auth);
    assert.equal(first.status, 201);
    await first.body?.cancel();
    await expect401(await post(app, path, body, auth), /replayed/);
  });
});

Deno.test("node api - a heartbeat from an unregistered node is 404, a malformed one 400", async () => {
  await withApp(async (app) => {
    const sk = generateSecretKey();
    const url = BASE + "/api/nodes/heartbeat";
    const hb = JSON.stringify({ node_id: "n1", load: 0, free_slots: 2, in_flight: 0, models: [] });
    const res = await post(app, "/api/nodes/heartbeat", hb, createNip98Header(sk, url, "POST", hb));
    assert.equal(res.status, 404);
    assert.equal((await res.json()).error.code, "node_not_registered");
    const bad = JSON.stringify({ node_id: 1 });
    const res2 = await post(app, "/api/nodes/heartbeat", bad, createNip98Header(sk, url, "POST", bad));
    assert.equal(res2.status, 400);
    await res2.body?.cancel();
  });
});

Deno.test("node api - a body over 256 KB is refused with 413, signed or not, and registers nothing", async () => {
  await withApp(async (app, cp) => {
    const sk = generateSecretKey();
    const record = createNodeRecord(sk, advert);
    const body = JSON.stringify({ ...record, padding: "x".repeat(256 * 1024) });
    const url = BASE + "/api/nodes/register";
    // Once with a declared length (refused before it is read), once streamed without one.
    const declared = await app.request(url, {
      method: "POST",
      body,
      headers: {
        "content-length": String(body.length),
        authorization: createNip98Header(sk, url, "POST", body),
      },
    });
    assert.equal(declared.status, 413);
    assert.match(await reason(declared), /body larger than 262144 bytes/);
    const streamed = await post(app, "/api/nodes/register", body, createNip98Header(sk, url, "POST", body));
    assert.equal(streamed.status, 413);
    await streamed.body?.cancel();
    assert.equal(cp.registry.get(getPublicKey(sk)), undefined);
  });
});

Deno.test("node api - an older record cannot replace a newer one", async () => {
  await withApp(async (app) => {
    const sk = generateSecretKey();
    const url = BASE + "/api/nodes/register";
    const newer = JSON.stringify(createNodeRecord(sk, advert, nowSeconds()));
    const older = JSON.stringify(createNodeRecord(sk, { ...advert, models: [] }, nowSeconds() - 30));
    const r1 = await post(app, "/api/nodes/register", newer, createNip98Header(sk, url, "POST", newer));
    assert.equal(r1.status, 201);
    await r1.body?.cancel();
    const r2 = await post(app, "/api/nodes/register", older, createNip98Header(sk, url, "POST", older));
    assert.equal(r2.status, 409);
    await r2.body?.cancel();
  });
});

Deno.test("node api - a VRAM tier the declared VRAM does not support is 400 node_record_invalid, registers nothing", async () => {
  await withApp(async (app, cp) => {
    const url = BASE + "/api/nodes/register";
    const register = (sk: Uint8Array, over: Parameters<typeof sampleAdvert>[0]) => {
      const body = JSON.stringify(createNodeRecord(sk, sampleAdvert(over)));
      return post(app, "/api/nodes/register", body, createNip98Header(sk, url, "POST", body));
    };
    const liar = generateSecretKey();
    const res = await register(liar, { gpus: [], totalVramMb: 0, vramTier: "large" });
    assert.equal(res.status, 400);
    const { error } = await res.json();
    assert.equal(error.code, "node_record_invalid");
    assert.match(
      error.message,
      /hardware\.vram_tier "large" needs hardware\.total_vram_mb of at least 16384/,
    );
    assert.equal(cp.registry.get(getPublicKey(liar)), undefined);
    const inflated = await register(generateSecretKey(), {
      gpus: [{ name: "NVIDIA GeForce RTX 3060", vramMb: 12_288, vendor: "nvidia" }],
      totalVramMb: 16_384,
      vramTier: "large",
    });
    assert.equal(inflated.status, 400);
    assert.match(await reason(inflated), /hardware\.total_vram_mb \(16384\) is more than the sum/);
    // The same GPU declared honestly registers, in the tier it supports.
    const honest = await register(generateSecretKey(), {
      gpus: [{ name: "NVIDIA GeForce RTX 3060", vramMb: 12_288, vendor: "nvidia" }],
      totalVramMb: 12_288,
      vramTier: "medium",
    });
    assert.equal(honest.status, 201, await honest.clone().text());
    assert.equal((await honest.json()).node.vram_tier, "medium");
  });
});

Deno.test("node api - a heartbeat's models are what the node serves now, until it registers again", async () => {
  await withApp(async (app, cp) => {
    const sk = generateSecretKey();
    const pubkey = getPublicKey(sk);
    const signed = (path: string, body: string) =>
      post(app, path, body, createNip98Header(sk, BASE + path, "POST", body));
    const record = JSON.stringify(createNodeRecord(sk, advert, nowSeconds() - 1));
    assert.equal((await signed("/api/nodes/register", record)).status, 201);
    assert.equal(cp.registry.get(pubkey)!.heartbeat, null, "before a heartbeat: the record's models");
    // Draining: the heartbeat lists no model, so the router sends it none.
    const hb = JSON.stringify({ node_id: "n1", load: 0, free_slots: 0, in_flight: 0, models: [] });
    assert.equal((await signed("/api/nodes/heartbeat", hb)).status, 200);
    assert.deepEqual(cp.registry.get(pubkey)!.heartbeat!.models, []);
    // A registration counts as a heartbeat serving the record's models.
    const again = JSON.stringify(createNodeRecord(sk, advert));
    assert.equal((await signed("/api/nodes/register", again)).status, 200);
    assert.deepEqual(cp.registry.get(pubkey)!.heartbeat!.models, ["m"]);
  });
});
