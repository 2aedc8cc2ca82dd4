// SIGTERM drains a real control-plane process: at once /readyz answers 503 (draining) while
// /healthz still answers, new jobs and node sockets are refused with server_draining; after the
// drain delay the process exits cleanly.
import assert from "node:assert/strict";
import { startControlPlaneProcess } from "../testing/control_plane_process.ts";
import { sleep } from "../shared/mod.ts";

Deno.test("drain - SIGTERM: not ready, no new jobs or node sockets, then a clean exit", async () => {
  const cp = await startControlPlaneProcess({
    INFERNET_DRAIN_DELAY_MS: "3000",
    INFERNET_KEY_RATE_LIMIT: "0",
  });
  try {
    const ready = await fetch(`${cp.url}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
    const key = (await (await fetch(`${cp.url}/api/keys`, { method: "POST" })).json()).key;

    cp.child.kill("SIGTERM");
    let readiness: Response | null = null;
    for (let i = 0; i < 100; i++) {
      readiness = await fetch(`${cp.url}/readyz`);
      if (readiness.status === 503) break;
      await readiness.body?.cancel();
      await sleep(10);
    }
    assert.equal(readiness?.status, 503);
    assert.equal((await readiness!.json()).draining, true);
    const alive = await fetch(`${cp.url}/healthz`);
    await alive.body?.cancel();
    assert.equal(alive.status, 200);

    const job = await fetch(`${cp.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(job.status, 503);
    assert.equal((await job.json()).error.code, "server_draining");
    const socket = await fetch(`${cp.url}/api/nodes/ws`, { headers: { upgrade: "websocket" } });
    assert.equal(socket.status, 503);
    assert.equal((await socket.json()).error.code, "server_draining");

    const status = await cp.child.status;
    assert.equal(status.code, 0);
  } finally {
    await cp.stop();
  }
});
