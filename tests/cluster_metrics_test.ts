// /metrics among several instances: each node's socket is on one instance, so infernet_nodes_live
// summed over the instances counts each node once; infernet_nodes_routable is the deployment's
// count on every instance.
import assert from "node:assert/strict";
import { attachClusterNode, clusterTest, openTestCluster, until } from "../testing/cluster.ts";
import { createTestEngineHandler } from "../testing/test_engine.ts";
import { parsePrometheusText, sampleValue } from "../testing/prometheus_text.ts";

clusterTest("cluster metrics - live nodes counted once across instances, routable ones on each", async () => {
  const c = await openTestCluster(3);
  const engine = createTestEngineHandler({ models: ["m"] });
  try {
    // Two nodes on A, one on B, none on C; all medium tier (sampleAdvert's).
    const nodes = [
      await attachClusterNode(c.planes[0].cp, engine.handler, { nodeId: "a1" }),
      await attachClusterNode(c.planes[0].cp, engine.handler, { nodeId: "a2" }),
      await attachClusterNode(c.planes[1].cp, engine.handler, { nodeId: "b1" }),
    ];
    await until(
      () => c.planes.every((p) => nodes.every((n) => p.cp.registry.get(n.pubkey)?.connection?.open)),
      10_000,
      "every instance to see every node",
    );
    const tier = c.planes[0].cp.registry.get(nodes[0].pubkey)!.record.vramTier;
    const live: number[] = [];
    for (const p of c.planes) {
      const samples = parsePrometheusText(await p.cp.metrics.render());
      live.push(sampleValue(samples, "infernet_nodes_live", { tier }));
      assert.equal(sampleValue(samples, "infernet_nodes_routable", { tier }), 3);
    }
    assert.deepEqual(live, [2, 1, 0]);
  } finally {
    engine.abortAll();
    await c.close();
  }
});
