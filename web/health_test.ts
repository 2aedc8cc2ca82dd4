// Alive vs ready: /healthz answers while the process runs; /readyz is 503 when a check fails or
// the instance drains, and a draining instance refuses new jobs but waits for the ones in flight.
import assert from "node:assert/strict";
import { createApp } from "./app.ts";
import { Health } from "./health.ts";
import { drainControlPlane } from "./main.ts";
import type { JobRun } from "./jobs/job_run.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";

Deno.test("health - readiness names each check's outcome and fails on any failure", async () => {
  const h = new Health();
  h.addCheck("database", () => Promise.resolve());
  assert.deepEqual(await h.readiness(), { ready: true, draining: false, checks: { database: "ok" } });
  h.addCheck("nats", () => Promise.reject(new Error("nats: connection refused")));
  const r = await h.readiness();
  assert.equal(r.ready, false);
  assert.equal(r.checks.nats, "nats: connection refused");
  h.drain();
  assert.equal((await h.readiness()).draining, true);
});

Deno.test("health - a fresh control plane is alive (/healthz) and ready (/readyz)", async () => {
  const t = await openTestControlPlane();
  try {
    const app = createApp(t.cp);
    const alive = await app.request("/healthz");
    assert.equal(alive.status, 200);
    assert.deepEqual(await alive.json(), { ok: true });
    const ready = await app.request("/readyz");
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ready: true, draining: false, checks: { database: "ok" } });
  } finally {
    await t.close();
  }
});

Deno.test("health - a draining instance is not ready, refuses new jobs and waits for those in flight", async () => {
  const t = await openTestControlPlane();
  try {
    const app = createApp(t.cp);
    // A job in flight, as a JobRun registers itself while it runs.
    t.cp.runDeps.active.set("job-1", {} as JobRun);
    const drained = drainControlPlane(t.cp, { delayMs: 0, timeoutMs: 30_000 });
    const ready = await app.request("/readyz");
    assert.equal(ready.status, 503);
    assert.equal((await ready.json()).draining, true);
    assert.equal((await app.request("/healthz")).status, 200, "still alive");
    const refused = await app.request("/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${t.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "1");
    assert.equal((await refused.json()).error.code, "server_draining");
    // Listing models is no job: still served.
    const models = await app.request("/v1/models", { headers: { authorization: `Bearer ${t.apiKey}` } });
    assert.equal(models.status, 200);
    const settled = await Promise.race([drained.then(() => "drained"), Promise.resolve("waiting")]);
    assert.equal(settled, "waiting");
    t.cp.runDeps.active.delete("job-1");
    assert.equal(await drained, 0);
  } finally {
    await t.close();
  }
});

Deno.test("health - draining waits for the jobs other instances run on this one's nodes", async () => {
  const t = await openTestControlPlane();
  try {
    // A job another instance relayed to a node connected here (web/cluster/job_relay.ts): its socket
    // closes with this process, so the drain waits for it as for its own.
    const relay = { size: 1 };
    (t.cp as { cluster: unknown }).cluster = { relay };
    const drained = drainControlPlane(t.cp, { delayMs: 0, timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(await Promise.race([drained.then(() => "drained"), Promise.resolve("waiting")]), "waiting");
    relay.size = 0;
    assert.equal(await drained, 0);
    (t.cp as { cluster: unknown }).cluster = null;
  } finally {
    await t.close();
  }
});

Deno.test("health - /readyz is 503 with the reason when the database is gone", async () => {
  const t = await openTestControlPlane();
  try {
    t.cp.health.addCheck("database", () => Promise.reject(new Error("database: connection closed")));
    const res = await createApp(t.cp).request("/readyz");
    assert.equal(res.status, 503);
    assert.equal((await res.json()).checks.database, "database: connection closed");
  } finally {
    await t.close();
  }
});
