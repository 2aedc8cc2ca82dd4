import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { createLogger } from "../../shared/mod.ts";
import { clusterTest, freshClusterPrefix, NATS_URL, until } from "../../testing/cluster.ts";
import { ClusterLease } from "./cluster_lease.ts";

const TTL_MS = 600;

interface Contender {
  nc: NatsConnection;
  lease: ClusterLease;
  /** Every change it was told of, in order. */
  changes: boolean[];
}

async function contender(bucket: string, instance: string): Promise<Contender> {
  const nc = await connect({ servers: NATS_URL });
  const kv = await new Kvm(nc).create(bucket, { history: 1, ttl: TTL_MS });
  const changes: boolean[] = [];
  const lease = new ClusterLease({
    kv,
    name: "canaries",
    instance,
    ttlMs: TTL_MS,
    log: createLogger({ level: "silent" }),
    onChange: (held) => changes.push(held),
  });
  await lease.start();
  return { nc, lease, changes };
}

clusterTest(
  "cluster lease - one holder of three; a dead holder's lease is taken over within its TTL",
  async () => {
    const bucket = `${freshClusterPrefix()}_leases`;
    const all: Contender[] = [];
    try {
      for (const i of [0, 1, 2]) all.push(await contender(bucket, `i${i}`));
      await until(() => all.filter((c) => c.lease.held).length === 1, 5000, "one holder");
      // It stays one over several renewals.
      for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, TTL_MS / 5));
        assert.equal(all.filter((c) => c.lease.held).length, 1);
      }
      const holder = all.find((c) => c.lease.held)!;
      // Killed: its connection is gone, nothing is released; the key expires.
      await holder.nc.close();
      const killedAt = Date.now();
      const rest = all.filter((c) => c !== holder);
      // The bound: the TTL, two turns of the others (a third of it each), and the server's expiry sweep.
      await until(() => rest.some((c) => c.lease.held), TTL_MS * 5, "another instance to take the lease");
      console.log(`lease taken over ${Date.now() - killedAt} ms after its holder died (TTL ${TTL_MS} ms)`);
      assert.equal(rest.filter((c) => c.lease.held).length, 1);
      // The dead one learns it lost the lease at its next renewal.
      await until(() => !holder.lease.held, 5000, "the dead holder to drop the lease");
      assert.deepEqual(holder.changes, [true, false]);

      // A graceful close releases at once: the last one takes it at its next turn.
      const second = rest.find((c) => c.lease.held)!;
      const last = rest.find((c) => c !== second)!;
      await second.lease.close();
      assert.deepEqual(second.changes, [true, false]);
      await until(() => last.lease.held, TTL_MS * 5, "the last instance to take the released lease");
    } finally {
      for (const c of all) {
        await c.lease.close();
        if (!c.nc.isClosed()) await c.nc.close();
      }
      const nc = await connect({ servers: NATS_URL });
      await (await new Kvm(nc).open(bucket)).destroy().catch(() => {});
      await nc.close();
    }
  },
);
