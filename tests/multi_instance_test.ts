// Three control-plane processes on one PostgreSQL database, as behind a load balancer: a key
// created on one works on the others, the per-key and key-creation rate limits hold across them,
// a NIP-98 event accepted by one is refused as a replay by the others, and a device login started
// on one is claimed, approved and completed on the others, its session good everywhere until a
// logout on any.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { createNip98Header, createNodeRecord } from "../shared/mod.ts";
import { sampleAdvert } from "../testing/node_advert.ts";
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
    await withCluster(
      3,
      { INFERNET_KEY_RATE_LIMIT: "1", INFERNET_KEY_CREATION_PER_MIN: "4" },
      async ([a, b, c]) => {
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

        // Key creation per address (4 a minute, so ≤ 1 more within 15 s): two keys made above, two
        // more on two other instances, then the fifth is refused whichever instance gets it.
        const creationStarted = performance.now();
        for (const cp of [c, a]) {
          assert.equal((await fetch(`${cp.url}/api/keys`, { method: "POST" })).status, 201);
        }
        const fifth = await fetch(`${b.url}/api/keys`, { method: "POST" });
        await fifth.body?.cancel();
        if (performance.now() - creationStarted < 10_000) {
          assert.equal(fifth.status, 429);
        }

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
      },
    );
  },
});

/** Signs and posts a node request (NIP-98 over the public URL) to one instance. */
function nodePost(
  cp: ControlPlaneProcess,
  sk: Uint8Array,
  path: string,
  payload: unknown,
): Promise<Response> {
  const body = JSON.stringify(payload);
  return fetch(`${cp.url}${path}`, {
    method: "POST",
    headers: {
      authorization: createNip98Header(sk, `${PUBLIC_URL}${path}`, "POST", body),
      "content-type": "application/json",
    },
    body,
  });
}

function cookieOf(res: Response, name: string): string {
  const line = res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
  if (!line) throw new Error(`no ${name} cookie in ${res.status} answer`);
  return line.split(";")[0];
}

Deno.test({
  name: "multi-instance - a device login started on one instance finishes on the others",
  ignore: POSTGRES_TESTS_IGNORED,
  async fn() {
    await withCluster(3, {}, async ([a, b, c]) => {
      // The node is registered with every instance (as a re-homing daemon would be, in turn).
      const sk = generateSecretKey();
      const record = createNodeRecord(sk, sampleAdvert({ name: "cluster-login-node" }));
      for (const cp of [a, b, c]) {
        const res = await nodePost(cp, sk, "/api/nodes/register", record);
        const text = await res.text();
        assert.ok(res.ok, text);
      }

      // Started on A by the node key.
      const started = await nodePost(a, sk, "/api/login/device", {});
      const login = await started.json();
      assert.equal(started.status, 201, JSON.stringify(login));

      // The browser enters the code on B.
      const claimed = await fetch(`${b.url}/login/device`, {
        method: "POST",
        // As a browser on the load balancer's site sends it.
        headers: { origin: PUBLIC_URL, "sec-fetch-site": "same-origin" },
        body: new URLSearchParams({ code: login.user_code, next: "/operator" }),
        redirect: "manual",
      });
      const claimedText = await claimed.text();
      assert.equal(claimed.status, 303, claimedText.slice(0, 500));
      const loginCookie = cookieOf(claimed, "infernet_login");

      // The node key sees that browser and approves it through C.
      const polled =
        await (await nodePost(c, sk, "/api/login/device/poll", { device_code: login.device_code }))
          .json();
      assert.equal(polled.status, "claimed", JSON.stringify(polled));
      const decided = await nodePost(c, sk, "/api/login/device/decision", {
        device_code: login.device_code,
        approve: true,
      });
      const decidedText = await decided.text();
      assert.equal(decided.status, 200, decidedText);

      // The browser's next refresh, on A, signs it in.
      const done = await fetch(`${a.url}/login/device/wait?next=/operator`, {
        headers: { cookie: loginCookie },
        redirect: "manual",
      });
      await done.body?.cancel();
      assert.equal(done.status, 303);
      const session = cookieOf(done, "infernet_session");

      // The session is good on every instance, until a logout on one.
      for (const cp of [a, b, c]) {
        const page = await fetch(`${cp.url}/operator`, { headers: { cookie: session }, redirect: "manual" });
        const html = await page.text();
        assert.equal(page.status, 200, `${cp.url}: ${page.status}`);
        assert.ok(html.includes(getPublicKey(sk).slice(0, 16)));
      }
      const out = await fetch(`${b.url}/logout`, {
        method: "POST",
        headers: { cookie: session, origin: PUBLIC_URL, "sec-fetch-site": "same-origin" },
        redirect: "manual",
      });
      await out.body?.cancel();
      assert.equal(out.status, 303);
      for (const cp of [a, c]) {
        const page = await fetch(`${cp.url}/operator`, { headers: { cookie: session }, redirect: "manual" });
        await page.body?.cancel();
        assert.equal(page.status, 303, "signed out everywhere");
      }
    });
  },
});
