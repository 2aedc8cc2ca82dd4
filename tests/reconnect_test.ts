// A node keeps itself online: when the control plane restarts — even with its data lost — the
// daemon reconnects with backoff, registers again, and serves the next request.
import assert from "node:assert/strict";
import { startTestEngine } from "../testing/test_engine.ts";
import { serveControlPlane } from "../web/main.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";
import { startNode, stopNode } from "../testing/network.ts";
import { sleep } from "../shared/mod.ts";

Deno.test("e2e - a node reconnects and re-registers after the control plane restarts with no data", async () => {
  const engine = await startTestEngine();
  const first = await openTestControlPlane({ serve: true });
  const port = first.server!.port;
  const url = first.server!.url;
  const node = await startNode({ cp: first.cp, url }, engine.url);
  let second: Awaited<ReturnType<typeof openTestControlPlane>> | null = null;
  let server2: Awaited<ReturnType<typeof serveControlPlane>> | null = null;
  try {
    await first.close();
    // A new control plane on the same address, with empty storage: the node is unknown to it.
    second = await openTestControlPlane();
    server2 = await serveControlPlane(second.cp, { hostname: "127.0.0.1", port });
    const deadline = Date.now() + 20_000;
    while (!second.cp.registry.get(node.pubkey)?.connection?.open) {
      if (Date.now() > deadline) throw new Error(`node did not come back within 20 s:\n${node.stderr()}`);
      await sleep(50);
    }
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${second.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "infernet-test-echo", messages: [{ role: "user", content: "back" }] }),
    });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.choices[0].message.content, "Echo: back");
  } finally {
    await stopNode(node);
    await server2?.shutdown();
    await second?.close();
    await engine.close();
  }
});
