// What an operator sees: after `infernet start`, heartbeats arrive signed and `infernet status`
// reports the node LIVE on the network with its jobs.
import assert from "node:assert/strict";
import { startTestEngine } from "../testing/test_engine.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";
import { runCli, startNode, stopNode } from "../testing/network.ts";
import { sleep } from "../shared/mod.ts";

Deno.test("e2e - heartbeats arrive and infernet status shows the node live", async () => {
  const engine = await startTestEngine();
  const t = await openTestControlPlane({ serve: true });
  const node = await startNode({ cp: t.cp, url: t.server!.url }, engine.url, {
    heartbeatMs: 200,
    maxConcurrency: 3,
  });
  try {
    const deadline = Date.now() + 10_000;
    while (!t.cp.registry.get(node.pubkey)?.heartbeat && Date.now() < deadline) {
      await sleep(50);
    }
    const hb = t.cp.registry.get(node.pubkey)?.heartbeat;
    assert.deepEqual(hb, {
      node_id: `node-${node.pubkey.slice(0, 8)}`,
      load: 0,
      free_slots: 3,
      in_flight: 0,
      models: ["infernet-test-echo"],
    });
    const res = await fetch(`${t.server!.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${t.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "infernet-test-echo", messages: [{ role: "user", content: "hi" }] }),
    });
    await res.body?.cancel();
    const status = await runCli(["status", "--json"], { INFERNET_HOME: node.home });
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout);
    assert.equal(s.pubkey, node.pubkey);
    assert.equal(s.server, t.server!.url, "start --server is remembered in config.json");
    assert.deepEqual([s.engine?.kind, s.engine?.url], ["test", engine.url], "and so is --engine-url");
    assert.equal(s.network.live, true);
    assert.equal(s.network.test_engine, true);
    assert.equal(s.network.jobs_succeeded, 1);
    const human = await runCli(["status"], { INFERNET_HOME: node.home });
    assert.match(human.stdout, /LIVE/);
    // Several instances, the first one gone: status asks the next, as the daemon re-homes.
    const gone = (() => {
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (l.addr as Deno.NetAddr).port;
      l.close();
      return `http://127.0.0.1:${port}`;
    })();
    const config = JSON.parse(await Deno.readTextFile(`${node.home}/config.json`));
    await Deno.writeTextFile(
      `${node.home}/config.json`,
      JSON.stringify({ ...config, server: [gone, t.server!.url] }),
    );
    const rehomed = JSON.parse((await runCli(["status", "--json"], { INFERNET_HOME: node.home })).stdout);
    assert.deepEqual([rehomed.server, rehomed.network.live], [t.server!.url, true]);
    await Deno.writeTextFile(`${node.home}/config.json`, JSON.stringify({ ...config, server: [gone] }));
    const down = JSON.parse((await runCli(["status", "--json"], { INFERNET_HOME: node.home })).stdout);
    assert.match(down.network.error, new RegExp(`cannot reach ${gone.replaceAll(".", "\\.")}`));
    await Deno.writeTextFile(`${node.home}/config.json`, JSON.stringify(config));
    // `register` on its own (e.g. after changing models) re-signs and updates the record.
    const reg = await runCli(["register", "--engine-url", engine.url], { INFERNET_HOME: node.home });
    assert.equal(reg.code, 0, reg.stderr);
    assert.match(reg.stdout, new RegExp(`registered npub1\\w+ with ${t.server!.url.replaceAll(".", "\\.")}`));
    assert.match(reg.stdout, /TEST ENGINE/);
  } finally {
    await stopNode(node);
    await t.close();
    await engine.close();
  }
});
