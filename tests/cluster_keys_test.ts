// An API key revoked on one instance stops working on every instance at once, not when the others'
// 30 s key caches expire: the revocation is announced over NATS (web/cluster/invalidation.ts).
import assert from "node:assert/strict";
import { clusterTest, openTestCluster } from "../testing/cluster.ts";

clusterTest("cluster keys - a key revoked on A is refused on B and C within a second", async () => {
  const c = await openTestCluster(3);
  try {
    const [a, b, cc] = c.planes.map((p) => p.server!.url);
    const created = await fetch(`${a}/api/keys`, { method: "POST" });
    assert.equal(created.status, 201);
    const { key } = await created.json();
    const balanceOn = (url: string) =>
      fetch(`${url}/api/balance`, { headers: { authorization: `Bearer ${key}` } });
    // B and C have it in their caches now.
    for (const url of [b, cc]) {
      const res = await balanceOn(url);
      await res.body?.cancel();
      assert.equal(res.status, 200);
    }
    const revoked = await fetch(`${a}/api/keys/revoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(revoked.status, 200);
    assert.equal((await revoked.json()).revoked, true);
    // Polled for at most a second (the cache's TTL is 30 s).
    for (const url of [a, b, cc]) {
      let status = 0;
      for (const end = Date.now() + 1000; Date.now() < end;) {
        const res = await balanceOn(url);
        status = res.status;
        const body = await res.json();
        if (status === 401) {
          assert.equal(body.error.code, "invalid_api_key");
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(status, 401, `refused on ${url}`);
    }
    // Revoking again says so.
    const again = await fetch(`${b}/api/keys/revoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(again.status, 401);
    await again.body?.cancel();
  } finally {
    await c.close();
  }
});
