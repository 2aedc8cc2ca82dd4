// Node presence across control-plane instances (real NATS, one fresh PostgreSQL database): every
// instance's registry holds every node, with its heartbeat and the instance holding its socket.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { createTestEngineHandler } from "../testing/test_engine.ts";
import { attachClusterNode, clusterTest, NATS_URL, openTestCluster, until } from "../testing/cluster.ts";
import { Kvm } from "@nats-io/kv";
import { clusterNames, RemoteLink } from "../web/cluster/mod.ts";
import { NodeConnection } from "../web/dispatch/node_connection.ts";
import { createNodeRecord, verifyNodeRecord } from "../shared/mod.ts";
import { sampleAdvert } from "../testing/node_advert.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";
import { openDatabase } from "../db/mod.ts";
import { createApp } from "../web/app.ts";

const engine = () => createTestEngineHandler({ models: ["m"] }).handler;

clusterTest("cluster presence - a registration and a heartbeat taken by one instance reach all", async () => {
  const c = await openTestCluster(2);
  try {
    const [a, b] = c.planes;
    // Registered on A only (no socket yet): B knows the node, so its socket may land on B.
    const sk = generateSecretKey();
    const pubkey = getPublicKey(sk);
    const record = verifyNodeRecord(createNodeRecord(sk, sampleAdvert({ nodeId: "roamer" })));
    assert.ok(record.ok);
    await a.cp.registry.register(record.record);
    await until(() => b.cp.registry.get(pubkey) !== undefined, 5000, "B to learn the record");
    assert.equal(b.cp.registry.get(pubkey)!.connection, null);
    await attachClusterNode(b.cp, engine(), { nodeId: "roamer" }, sk);
    await until(() => a.cp.registry.get(pubkey)?.connection instanceof RemoteLink, 5000, "A to link to B");
    // The node posts its heartbeat through the load balancer to A: B's router sees it too.
    const hb = { node_id: "roamer", load: 0.5, free_slots: 3, in_flight: 4, models: ["m"] };
    assert.ok(a.cp.registry.heartbeat(pubkey, hb, Date.now()));
    await until(() => b.cp.registry.get(pubkey)?.heartbeat?.in_flight === 4, 5000, "B to get the heartbeat");
    assert.equal((a.cp.registry.get(pubkey)!.connection as RemoteLink).instance, b.cp.cluster!.instance);
  } finally {
    await c.close();
  }
});

clusterTest("cluster presence - a node that moves is linked to its new instance everywhere", async () => {
  const c = await openTestCluster(3);
  try {
    const [a, b, third] = c.planes;
    const sk = generateSecretKey();
    const pubkey = getPublicKey(sk);
    const first = await attachClusterNode(b.cp, engine(), { nodeId: "mover" }, sk);
    const holderIs = (instance: string) => () =>
      [a, third].every((p) => {
        const conn = p.cp.registry.get(pubkey)?.connection;
        return conn instanceof RemoteLink && conn.open && conn.instance === instance;
      });
    await until(holderIs(b.cp.cluster!.instance), 5000, "everyone to link the node to B");
    // B's socket drops and the node reconnects to A.
    first.kill();
    await attachClusterNode(a.cp, engine(), { nodeId: "mover" }, sk);
    assert.ok(a.cp.registry.get(pubkey)!.connection instanceof NodeConnection);
    await until(
      () => {
        const conn = third.cp.registry.get(pubkey)?.connection;
        return conn instanceof RemoteLink && conn.open && conn.instance === a.cp.cluster!.instance;
      },
      5000,
      "the third instance to link the node to A",
    );
    await until(
      () => {
        const conn = b.cp.registry.get(pubkey)?.connection;
        return conn instanceof RemoteLink && conn.instance === a.cp.cluster!.instance;
      },
      5000,
      "B to link the node to A",
    );
    // A's own socket is never replaced by its entry coming back through the bucket.
    assert.ok(a.cp.registry.get(pubkey)!.connection instanceof NodeConnection);
  } finally {
    await c.close();
  }
});

clusterTest(
  "cluster presence - an instance that shuts down withdraws its nodes; load is reported",
  async () => {
    const c = await openTestCluster(2);
    try {
      const [a, b] = c.planes;
      const node = await attachClusterNode(
        b.cp,
        createTestEngineHandler({ models: ["m"], failure: "hang" }).handler,
      );
      await until(() => a.cp.registry.get(node.pubkey)?.connection?.open === true, 5000, "A to see B's node");
      // A job B runs for itself shows in A's view of the node's load by the next beat.
      b.cp.registry.get(node.pubkey)!.connection!.startJob("held", "chat", false, {
        model: "m",
        messages: [{ role: "user", content: "hi" }],
      });
      await until(
        () => a.cp.registry.get(node.pubkey)!.connection!.inFlight === 1,
        5000,
        "A to see the load",
      );
      await b.cp.cluster!.close();
      await until(() => !a.cp.registry.get(node.pubkey)?.connection, 5000, "A to drop the node");
      assert.deepEqual(a.cp.cluster!.presence.instances(), [a.cp.cluster!.instance]);
    } finally {
      await c.close();
    }
  },
);

clusterTest(
  "cluster presence - an instance whose entry was deleted while it lives puts it back",
  async () => {
    const c = await openTestCluster(2);
    try {
      const [a, b] = c.planes;
      const node = await attachClusterNode(b.cp, engine());
      await until(() => a.cp.registry.get(node.pubkey)?.connection?.open === true, 5000, "A to see B's node");
      // What another instance does to one silent past its deadline (a long pause): its entries go.
      const kv = await new Kvm(a.cp.cluster!.nc).open(clusterNames(c.prefix).presenceBucket);
      const before = a.cp.registry.get(node.pubkey)!.connection;
      await kv.delete(node.pubkey);
      // B, still holding the socket, puts it back: A links to it again without waiting for a heartbeat.
      await until(
        () => {
          const conn = a.cp.registry.get(node.pubkey)?.connection;
          return conn !== before && conn instanceof RemoteLink && conn.open;
        },
        5000,
        "B to put the entry back",
      );
    } finally {
      await c.close();
    }
  },
);

clusterTest("cluster presence - an older record arriving late never replaces a newer one", async () => {
  const c = await openTestCluster(2);
  try {
    const [a, b] = c.planes;
    const sk = generateSecretKey();
    const pubkey = getPublicKey(sk);
    const now = Math.floor(Date.now() / 1000);
    const at = (createdAt: number, name: string) => {
      const r = verifyNodeRecord(createNodeRecord(sk, sampleAdvert({ nodeId: "n", name }), createdAt));
      assert.ok(r.ok);
      return r.record;
    };
    await a.cp.registry.register(at(now, "new"));
    await until(() => b.cp.registry.get(pubkey)?.record.name === "new", 5000, "B to adopt the new record");
    // An entry put before the re-registration, by an instance that held the node then.
    const kv = await new Kvm(a.cp.cluster!.nc).open(clusterNames(c.prefix).presenceBucket);
    const stale = { instance: "cp_gone", event: at(now - 60, "old").event, heartbeat: null, heartbeatAt: 1 };
    await kv.put(pubkey, JSON.stringify(stale));
    await until(
      () => b.cp.registry.get(pubkey)?.connection instanceof RemoteLink,
      5000,
      "B to apply the late entry",
    );
    assert.equal(b.cp.registry.get(pubkey)!.record.name, "new");
  } finally {
    await c.close();
  }
});

clusterTest(
  "cluster presence - an instance that joins sees the nodes already there when it opens",
  async () => {
    const c = await openTestCluster(1);
    try {
      const node = await attachClusterNode(c.planes[0].cp, engine());
      const db = await openDatabase({ url: c.databaseUrl, max: 2 });
      try {
        // Its entry is in the bucket before the new instance opens (bounded: 100 looks).
        const kv = await new Kvm(c.planes[0].cp.cluster!.nc).open(clusterNames(c.prefix).presenceBucket);
        for (let i = 0; i < 100 && (await kv.get(node.pubkey))?.operation !== "PUT"; i++) {
          await new Promise((r) => setTimeout(r, 20));
        }
        const late = await openTestControlPlane({ db, config: { natsUrl: NATS_URL, natsPrefix: c.prefix } });
        try {
          const conn = late.cp.registry.get(node.pubkey)?.connection;
          assert.ok(conn instanceof RemoteLink && conn.open, "the node is routable from the first request");
          assert.equal(late.cp.registry.serving("m").length, 1);
        } finally {
          await late.close();
        }
      } finally {
        await db.close();
      }
    } finally {
      await c.close();
    }
  },
);

clusterTest(
  "cluster presence - /readyz checks NATS: ready while it answers, 503 once it is gone",
  async () => {
    const c = await openTestCluster(1);
    try {
      const cp = c.planes[0].cp;
      const app = createApp(cp);
      const ready = await app.request("/readyz");
      assert.equal(ready.status, 200, await ready.clone().text());
      assert.equal((await ready.json()).checks.nats, "ok");
      await cp.cluster!.nc.close();
      const gone = await app.request("/readyz");
      assert.equal(gone.status, 503);
      const body = await gone.json();
      assert.notEqual(body.checks?.nats ?? body.error?.message, "ok", JSON.stringify(body));
    } finally {
      await c.close();
    }
  },
);
