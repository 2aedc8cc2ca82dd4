// Three control-plane processes on one PostgreSQL database, as behind a load balancer: a key
// created on one works on the others, the per-key rate limit holds across them, and a NIP-98
// event accepted by one is refused as a replay by the others.
import assert from "node:assert/strict";
import { generateSecretKey } from "nostr-tools/pure";
import { createNip98Header } from "../shared/mod.ts";
import { createPostgresDatabase, POSTGRES_TESTS_IGNORED } from "../testing/postgres_database.ts";
import { type ControlPlaneProcess, startControlPlaneProcess } from "../testing/control_plane_process.ts";

const PUBLIC_URL = "http://infernet.cluster.test";

async function withCluster(
  n: number,
  env: Record<string, string>,
  fn: (cps: ControlPlaneProcess[]) => Promise<void>,
) {
  const pg = await createPostgresDatabase();
  const cps: ControlPlaneProcess[] = [];
  try {
    const common = { DATABASE_URL: pg.url, INFERNET_PUBLIC_URL: PUBLIC_URL, ...env };
    // Concurrently: the migrations serialise themselves on an advisory lock.
    cps.push(...await Promise.all(Array.from({ length: n }, () => startControlPlaneProcess(common))));
    await fn(cps);
  } finally {
    await Promise.all(cps.map((cp) => cp.stop()));
    await pg.drop();
  }
}

async function createKey(cp: ControlPlaneProcess): Promise<string> {
  const res = await fetch(`${cp.url}/api/keys`, { method: "POST" });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return body.key;
}

function listModels(cp: ControlPlaneProcess, key: string): Promise<Response> {
  return fetch(`${cp.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
}

Deno.test({
  name: "multi-instance - keys, the per-key rate limit and the NIP-98 replay window are shared",
  ignore: POSTGRES_TESTS_IGNORED,
  async fn() {
    await withCluster(3, { INFERNET_KEY_RATE_LIMIT: "1" }, async ([a, b, c]) => {
      for (const cp of [a, b, c]) {
        const ready = await fetch(`${cp.url}/readyz`);
        const text = await ready.text();
        assert.equal(ready.status, 200, text);
      }

      // A key created on one instance works on the others.
      const key = await createKey(a);
      for (const cp of [b, c]) {
        const res = await listModels(cp, key);
        const text = await res.text();
        assert.equal(res.status, 200, text);
      }

      // The per-key limit (1/s, burst 2) holds across instances: round robin over three, as a load
      // balancer would, the key gets its burst plus what refilled meanwhile — in memory per
      // instance it would get 3 × 2.
      const limited = await createKey(b);
      const started = performance.now();
      const statuses: number[] = [];
      for (let i = 0; i < 9; i++) {
        const res = await listModels([a, b, c][i % 3], limited);
        statuses.push(res.status);
        await res.body?.cancel();
      }
      const elapsedS = (performance.now() - started) / 1000;
      const ok = statuses.filter((s) => s === 200).length;
      console.log(`rate limit across 3 instances: ${ok} of 9 allowed in ${elapsedS.toFixed(2)} s`);
      assert.ok(ok >= 2, `statuses ${statuses}`);
      assert.ok(ok <= 2 + Math.ceil(elapsedS), `statuses ${statuses} in ${elapsedS} s`);
      assert.deepEqual(statuses.filter((s) => s !== 200).every((s) => s === 429), true);

      // A NIP-98 event used on one instance is a replay on the others (all sign the public URL).
      const sk = generateSecretKey();
      const body = JSON.stringify({ queue: 0 });
      const auth = createNip98Header(sk, `${PUBLIC_URL}/api/nodes/heartbeat`, "POST", body);
      const post = (cp: ControlPlaneProcess) =>
        fetch(`${cp.url}/api/nodes/heartbeat`, {
          method: "POST",
          headers: { authorization: auth, "content-type": "application/json" },
          body,
        });
      const first = await post(a);
      const firstBody = await first.json();
      assert.notEqual(firstBody.error?.code, "nip98_replayed");
      assert.notEqual(firstBody.error?.code, "nip98_invalid", JSON.stringify(firstBody));
      for (const cp of [b, c]) {
        const replay = await post(cp);
        assert.equal(replay.status, 401);
        assert.equal((await replay.json()).error.code, "nip98_replayed");
      }
    });
  },
});
