// The shared state on a real PostgreSQL, opened as two instances would open it (two connections,
// two SharedState objects): check-and-set has one winner, records expire, a rate limit's bucket is
// one for both, and a device login started on one finishes on the other.
import assert from "node:assert/strict";
import { migrate, openDatabase, type Sql } from "../../db/mod.ts";
import { createLogger, sleep } from "../../shared/mod.ts";
import { createPostgresDatabase, POSTGRES_TESTS_IGNORED } from "../../testing/postgres_database.ts";
import {
  claimDeviceLogin,
  completeDeviceLogin,
  decideDeviceLogin,
  startDeviceLogin,
} from "../auth/device_login.ts";
import { issueSessionToken, sessionSecret, verifySessionToken } from "../auth/session.ts";
import type { ControlPlane } from "../control_plane.ts";
import { localState, postgresState, type SharedState } from "./shared_state.ts";
import { PgStateKv } from "./pg_state_kv.ts";

const log = createLogger({ level: "silent" });

/** Two instances' shared state on one fresh database. */
async function withTwoInstances(fn: (a: SharedState, b: SharedState, sql: Sql) => Promise<void>) {
  const pg = await createPostgresDatabase();
  const dbs = [await openDatabase({ url: pg.url, max: 4 }), await openDatabase({ url: pg.url, max: 4 })];
  const states: SharedState[] = [];
  try {
    await migrate(dbs[0].sql);
    states.push(postgresState(dbs[0].sql, log), postgresState(dbs[1].sql, log));
    await fn(states[0], states[1], dbs[0].sql);
  } finally {
    for (const s of states) await s.close();
    for (const db of dbs) await db.close();
    await pg.drop();
  }
}

const pgTest = (name: string, fn: (a: SharedState, b: SharedState, sql: Sql) => Promise<void>) =>
  Deno.test({ name, ignore: POSTGRES_TESTS_IGNORED, fn: () => withTwoInstances(fn) });

pgTest("shared state - of concurrent claims of one absent key on two instances, one wins", async (a, b) => {
  const claim = (s: SharedState) =>
    s.kv.atomic().check({ key: ["nip98_seen", "e1"], versionstamp: null })
      .set(["nip98_seen", "e1"], 1, { expireIn: 120_000 }).commit();
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => claim(i % 2 ? a : b)));
  assert.equal(results.filter((r) => r.ok).length, 1);
  assert.equal((await b.kv.get(["nip98_seen", "e1"])).value, 1);
});

pgTest("shared state - a stale versionstamp fails its check and changes nothing", async (a, b) => {
  const first = await a.kv.set(["k"], { n: 1 });
  await b.kv.set(["k"], { n: 2 });
  const res = await a.kv.atomic().check({ key: ["k"], versionstamp: first.versionstamp })
    .set(["k"], { n: 3 }).delete(["other"]).commit();
  assert.equal(res.ok, false);
  const now = await a.kv.get<{ n: number }>(["k"]);
  assert.deepEqual(now.value, { n: 2 });
  assert.ok(now.versionstamp! > first.versionstamp);
});

pgTest(
  "shared state - an expired record reads as absent, can be claimed again and is swept",
  async (a, b, sql) => {
    await a.kv.set(["login_challenge", "c"], true, { expireIn: 50 });
    assert.equal((await b.kv.get(["login_challenge", "c"])).value, true);
    await sleep(150);
    assert.equal((await b.kv.get(["login_challenge", "c"])).versionstamp, null);
    assert.equal(await new PgStateKv(sql).sweep(), 1);
    const again = await b.kv.atomic().check({ key: ["login_challenge", "c"], versionstamp: null })
      .set(["login_challenge", "c"], true, { expireIn: 60_000 }).commit();
    assert.equal(again.ok, true);
  },
);

pgTest("shared state - a rate limit's bucket is one across instances", async (a, b) => {
  const limits = { ratePerSec: 1 / 3600, burst: 5 };
  const la = a.limiter("api_key", limits), lb = b.limiter("api_key", limits);
  const waits = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? la : lb).take("key-1")));
  assert.equal(waits.filter((w) => w === 0).length, 5, `waits: ${waits}`);
  for (const w of waits.filter((w) => w > 0)) assert.ok(w > 3000 && w <= 3600, `wait ${w}`);
  // Another caller, and the same caller under another limit, have buckets of their own.
  assert.equal(await la.take("key-2"), 0);
  assert.equal(await a.limiter("key_creation", limits).take("key-1"), 0);
});

pgTest("shared state - a device login started on one instance finishes on another", async (a, b) => {
  const pubkey = "ab".repeat(32);
  const login = await startDeviceLogin(a.kv, pubkey);
  const browser = { token: "t".repeat(64), address: "127.0.0.1", userAgent: "test" };
  const claimed = await claimDeviceLogin(b.kv, login.userCode, browser);
  assert.equal(claimed.ok, true);
  assert.deepEqual(await claimDeviceLogin(a.kv, login.userCode, { ...browser, token: "u".repeat(64) }), {
    ok: false,
    reason: "used",
  });
  assert.equal((await decideDeviceLogin(a.kv, login.deviceCode, pubkey, true)).ok, true);
  assert.equal(await completeDeviceLogin(b.kv, browser.token), pubkey);
  assert.equal(await completeDeviceLogin(a.kv, browser.token), null, "spent once");
});

pgTest(
  "shared state - instances share one session secret, and a logout on one ends the session on all",
  async (a, b) => {
    const cpA = { state: a } as ControlPlane, cpB = { state: b } as ControlPlane;
    const [sa, sb] = await Promise.all([sessionSecret(cpA), sessionSecret(cpB)]);
    assert.equal(sa, sb);
    const { token, session } = await issueSessionToken(cpA, "cd".repeat(32));
    assert.ok(await verifySessionToken(cpB, token));
    await a.kv.set(["auth_revoked_session", session.sid], true, { expireIn: 60_000 });
    assert.equal(await verifySessionToken(cpB, token), null);
  },
);

Deno.test("shared state - the local default keeps limits in memory and records in the given KV", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const s = localState(kv);
    assert.equal(s.kind, "local");
    assert.equal(s.kv, kv);
    const l = s.limiter("api_key", { ratePerSec: 1 / 3600, burst: 1 });
    assert.equal(await l.take("k"), 0);
    assert.ok(await l.take("k") > 0);
    await s.close();
  } finally {
    kv.close();
  }
});
