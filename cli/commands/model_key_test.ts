// `infernet model key create | grant | show` against a stand-in control plane: the publisher's
// announcement and grant reach it, and the node opens its grant and keeps the model secret (0600).
import assert from "node:assert/strict";
import { getPublicKey } from "nostr-tools/pure";
import { createLogger, isRecord } from "../../shared/mod.ts";
import { verifyModelKeyAnnouncement, verifyModelKeyGrant } from "../../shared/direct/mod.ts";
import { createIdentity } from "../identity/node_key.ts";
import { listModelKeys, loadModelSecret } from "../models/model_keys.ts";
import { runModel } from "./model.ts";

/** `bare`: the grants answer lists the stored events as JSON text, without their announcements. */
function startStandIn(opts: { bare?: boolean } = {}) {
  const announcements: unknown[] = [];
  const grants: unknown[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    if (req.method === "POST" && url.pathname === "/api/model-keys") {
      const event = await req.json();
      if (!verifyModelKeyAnnouncement(event).ok) {
        return Response.json({ error: { message: "bad" } }, { status: 400 });
      }
      announcements.push(event);
      return Response.json({ ok: true });
    }
    if (req.method === "POST" && url.pathname === "/api/model-keys/grants") {
      const event = await req.json();
      if (!verifyModelKeyGrant(event).ok) {
        return Response.json({ error: { message: "bad" } }, { status: 400 });
      }
      grants.push(event);
      return Response.json({ ok: true });
    }
    if (url.pathname === "/api/model-keys/grants") {
      const node = url.searchParams.get("node");
      const mine = grants.filter((g) =>
        isRecord(g) && (g.tags as string[][]).some((t) => t[0] === "p" && t[1] === node)
      );
      if (opts.bare) return Response.json({ grants: mine.map((g) => JSON.stringify(g)) });
      return Response.json({
        grants: mine.map((g) => ({
          grant: g,
          announcement: announcements.find((a) =>
            isRecord(a) && (g as { tags: string[][] }).tags.some((t) => t[0] === "e" && t[1] === a.id)
          ),
        })),
      });
    }
    return new Response("no", { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    announcements,
    grants,
    close: () => server.shutdown(),
  };
}

async function run(home: string, server: string, args: string[]): Promise<string[]> {
  const lines: string[] = [];
  await runModel({
    args: ["key", ...args, "--server", server],
    env: { INFERNET_HOME: home },
    log: createLogger({ level: "silent" }),
    print: (l) => lines.push(l),
  });
  return lines;
}

Deno.test("model key - create, grant to a node, and the node's show keeps the secret 0600", async () => {
  const cp = startStandIn();
  const publisherHome = await Deno.makeTempDir();
  const nodeHome = await Deno.makeTempDir();
  try {
    await createIdentity(publisherHome);
    const node = await createIdentity(nodeHome);
    const file = `${publisherHome}/model.gguf`;
    await Deno.writeTextFile(file, "weights");
    const created = JSON.parse(
      (await run(publisherHome, cp.url, ["create", "--model", "m1", "--file", file, "--json"]))[0],
    );
    assert.equal(created.artifact_sha256, "9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c");
    assert.equal(cp.announcements.length, 1);
    assert.deepEqual(await listModelKeys(publisherHome), [created.model_key]);
    await run(publisherHome, cp.url, ["grant", "--model-key", created.model_key, "--node", node.npub]);
    assert.equal(cp.grants.length, 1);
    assert.equal(await loadModelSecret(nodeHome, created.model_key), null, "nothing held before show");
    const shown = JSON.parse((await run(nodeHome, cp.url, ["show", "--json"]))[0]);
    assert.deepEqual(shown.grants, [{
      model: "m1",
      model_key: created.model_key,
      artifact_sha256: created.artifact_sha256,
    }]);
    const secret = await loadModelSecret(nodeHome, created.model_key);
    assert.ok(secret);
    assert.equal(getPublicKey(secret), created.model_key);
    if (Deno.build.os !== "windows") {
      const st = await Deno.stat(`${nodeHome}/model_keys/${created.model_key}.nsec`);
      assert.equal(st.mode! & 0o777, 0o600);
    }
  } finally {
    await cp.close();
    await Deno.remove(publisherHome, { recursive: true });
    await Deno.remove(nodeHome, { recursive: true });
  }
});

Deno.test("model key - show takes grants listed as bare stored events too", async () => {
  const cp = startStandIn({ bare: true });
  const publisherHome = await Deno.makeTempDir();
  const nodeHome = await Deno.makeTempDir();
  try {
    await createIdentity(publisherHome);
    const node = await createIdentity(nodeHome);
    const file = `${publisherHome}/model.gguf`;
    await Deno.writeTextFile(file, "weights");
    const created = JSON.parse(
      (await run(publisherHome, cp.url, ["create", "--model", "m1", "--file", file, "--json"]))[0],
    );
    await run(publisherHome, cp.url, ["grant", "--model-key", created.model_key, "--node", node.npub]);
    const shown = JSON.parse((await run(nodeHome, cp.url, ["show", "--json"]))[0]);
    assert.deepEqual(shown.grants, [{ model: null, model_key: created.model_key, artifact_sha256: null }]);
    assert.deepEqual(shown.held, [created.model_key]);
  } finally {
    await cp.close();
    await Deno.remove(publisherHome, { recursive: true });
    await Deno.remove(nodeHome, { recursive: true });
  }
});

Deno.test("model key - grant refuses a key this machine did not create", async () => {
  const cp = startStandIn();
  const home = await Deno.makeTempDir();
  const nodeHome = await Deno.makeTempDir();
  try {
    await createIdentity(home);
    const node = await createIdentity(nodeHome);
    await assert.rejects(
      run(home, cp.url, ["grant", "--model-key", "ab".repeat(32), "--node", node.npub]),
      /holds no secret/,
    );
    assert.equal(cp.grants.length, 0);
  } finally {
    await cp.close();
    await Deno.remove(home, { recursive: true });
    await Deno.remove(nodeHome, { recursive: true });
  }
});
