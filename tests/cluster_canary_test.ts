// The canary scheduler among three instances: every router sees every node, so one instance at a
// time sends canaries, the holder of the cluster's `canaries` lease; when it dies (here: its NATS
// connection drops, which is all the others can see of a death), another takes over.
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { clusterNames } from "../web/cluster/mod.ts";
import { clusterTest, NATS_URL, openTestCluster, until } from "../testing/cluster.ts";

clusterTest(
  "cluster canaries - one scheduler across three instances; another takes over when it dies",
  async () => {
    const c = await openTestCluster(3, { canaryRate: 0.01 }, { canaries: true });
    const nc = await connect({ servers: NATS_URL });
    try {
      const kv = await new Kvm(nc).open(clusterNames(c.prefix).leaseBucket);
      const holderName = async () => (await kv.get("canaries"))?.string() ?? null;
      const running = () => c.planes.filter((p) => p.server!.canaries!.running);
      await until(() => running().length === 1, 10_000, "one scheduler to run");
      const [leader] = running();
      assert.equal(await holderName(), leader.cp.cluster!.instance);
      // Still one after several renewals.
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(running().length, 1);
      }

      // The leader "dies": its NATS connection drops, nothing is released.
      await leader.cp.cluster!.nc.close();
      const rest = c.planes.filter((p) => p !== leader);
      const diedAt = Date.now();
      // Bounded by the lease's TTL (3 s) and a turn of the others (1 s), with a margin.
      await until(
        () => rest.some((p) => p.server!.canaries!.running),
        10_000,
        "another scheduler to take over",
      );
      console.log(`canaries taken over ${Date.now() - diedAt} ms after the leader's death`);
      await until(() => !leader.server!.canaries!.running, 10_000, "the dead leader's scheduler to stop");
      assert.equal(running().length, 1);
      assert.equal(await holderName(), running()[0].cp.cluster!.instance);
    } finally {
      await nc.close();
      await c.close();
    }
  },
);
