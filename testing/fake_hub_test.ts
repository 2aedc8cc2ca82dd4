import assert from "node:assert/strict";
import { createFakeHubHandler, startFakeHub } from "./fake_hub.ts";

const REPO = "acme/tiny-GGUF";

Deno.test("fake hub - lists files with their real sha256 in both listing shapes", async () => {
  const hub = await createFakeHubHandler({
    repos: [{ id: REPO, files: [{ path: "tiny-Q4_K_M.gguf", size: 1000 }, { path: "README.md", size: 10 }] }],
  });
  const info = await (await hub.handler(new Request(`http://hub/api/models/${REPO}?blobs=true`))).json();
  const gguf = info.siblings.find((s: { rfilename: string }) => s.rfilename === "tiny-Q4_K_M.gguf");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", hub.bytes(REPO, "tiny-Q4_K_M.gguf")));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(gguf.lfs.sha256, hex);
  assert.equal(gguf.size, 1000);
  assert.equal(info.siblings.find((s: { rfilename: string }) => s.rfilename === "README.md").lfs, undefined);
  const tree =
    await (await hub.handler(new Request(`http://hub/api/models/${REPO}/tree/main?recursive=true`))).json();
  assert.equal(tree.find((e: { path: string }) => e.path === "tiny-Q4_K_M.gguf").lfs.oid, hex);
});

Deno.test("fake hub - serves byte ranges with 206 and Content-Range", async () => {
  const hub = await createFakeHubHandler({ repos: [{ id: REPO, files: [{ path: "a.gguf", size: 100 }] }] });
  const res = await hub.handler(
    new Request(`http://hub/${REPO}/resolve/main/a.gguf`, { headers: { range: "bytes=90-" } }),
  );
  assert.equal(res.status, 206);
  assert.equal(res.headers.get("content-range"), "bytes 90-99/100");
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), hub.bytes(REPO, "a.gguf").slice(90));
  const past = await hub.handler(
    new Request(`http://hub/${REPO}/resolve/main/a.gguf`, { headers: { range: "bytes=100-" } }),
  );
  assert.equal(past.status, 416);
});

Deno.test("fake hub - answers like the hub for gated, missing and unknown things", async () => {
  const hub = await createFakeHubHandler({
    repos: [{ id: "meta/gated", gated: true, files: [{ path: "g.gguf", size: 10 }] }],
    tokens: ["hf_good"],
  });
  const get = (path: string, token?: string) =>
    hub.handler(
      new Request(`http://hub${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} }),
    );
  const anon = await get("/meta/gated/resolve/main/g.gguf");
  assert.equal(anon.status, 401);
  assert.equal(anon.headers.get("x-error-code"), "GatedRepo");
  assert.equal((await get("/meta/gated/resolve/main/g.gguf", "hf_other")).status, 403);
  assert.equal((await get("/meta/gated/resolve/main/g.gguf", "hf_good")).status, 200);
  assert.equal((await (await get("/api/models/meta/gated")).json()).gated, "manual");
  const missing = await get("/nobody/nothing/resolve/main/x.gguf");
  assert.equal(missing.status, 401, "a missing repo looks private without a token");
  assert.equal(missing.headers.get("x-error-code"), "RepoNotFound");
  assert.equal((await get("/api/models/nobody/nothing", "hf_good")).status, 404);
  const entry = await get("/meta/gated/resolve/main/nope.gguf", "hf_good");
  assert.equal(entry.headers.get("x-error-code"), "EntryNotFound");
  for (const r of [anon, missing, entry]) await r.body?.cancel();
});

Deno.test("fake hub - redirects to a CDN path and cuts the first download when told to", async () => {
  const hub = await startFakeHub({
    redirect: true,
    repos: [{ id: REPO, files: [{ path: "a.gguf", size: 300_000, dropAfterBytes: 100_000 }] }],
  });
  try {
    const first = await fetch(`${hub.url}/${REPO}/resolve/main/a.gguf`);
    assert.match(first.url, /\/cdn\/[0-9a-f]{64}$/);
    await assert.rejects(first.arrayBuffer());
    const second = await fetch(`${hub.url}/${REPO}/resolve/main/a.gguf`);
    assert.deepEqual(new Uint8Array(await second.arrayBuffer()), hub.bytes(REPO, "a.gguf"));
    assert.deepEqual(hub.requests.map((r) => r.path.split("/")[1]), [
      REPO.split("/")[0],
      "cdn",
      "acme",
      "cdn",
    ]);
  } finally {
    await hub.close();
  }
});
