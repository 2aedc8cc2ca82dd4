// Operator sessions: tokens verify only as issued, expire, and die on logout; the KV secret is
// shared by every instance on the same KV.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { sign } from "hono/jwt";
import type { AppEnv } from "../app_env.ts";
import type { ControlPlane } from "../control_plane.ts";
import {
  endSession,
  issueSessionToken,
  requireOperator,
  SESSION_COOKIE,
  sessionSecret,
  startSession,
  verifySessionToken,
} from "./session.ts";
import { localState } from "../state/shared_state.ts";

const PUB = "ab".repeat(32);

async function withKv(fn: (cp: ControlPlane, kv: Deno.Kv) => Promise<void>) {
  const kv = await Deno.openKv(":memory:");
  try {
    await fn({ kv, state: localState(kv) } as ControlPlane, kv);
  } finally {
    kv.close();
  }
}

Deno.test("session - a token verifies as issued and not when tampered, expired or unsigned", () =>
  withKv(async (cp) => {
    const now = Math.floor(Date.now() / 1000);
    const { token, session } = await issueSessionToken(cp, PUB, now);
    assert.deepEqual(await verifySessionToken(cp, token), session);
    assert.equal(session.pubkey, PUB);

    const [h, p, s] = token.split(".");
    const body = JSON.parse(atob(p.replace(/-/g, "+").replace(/_/g, "/")));
    const forged = btoa(JSON.stringify({ ...body, sub: "cd".repeat(32) })).replace(/=+$/, "")
      .replace(/\+/g, "-").replace(/\//g, "_");
    assert.equal(await verifySessionToken(cp, `${h}.${forged}.${s}`), null, "payload changed");
    assert.equal(await verifySessionToken(cp, `${h}.${p}.${s.slice(0, -2)}AA`), null, "signature changed");
    const none = btoa(JSON.stringify({ alg: "none", typ: "JWT" })).replace(/=+$/, "");
    assert.equal(await verifySessionToken(cp, `${none}.${p}.`), null, "alg none");

    const old = await issueSessionToken(cp, PUB, now - 7200);
    assert.equal(await verifySessionToken(cp, old.token), null, "expired");

    const otherKey = await sign({ sub: PUB, sid: "x", exp: now + 60, aud: "infernet-dashboard" }, "guess");
    assert.equal(await verifySessionToken(cp, otherKey), null, "another secret");
    assert.equal(await verifySessionToken(cp, "garbage"), null);
    await assert.rejects(issueSessionToken(cp, "npub1xyz"), /64-hex/);
  }));

Deno.test("session - instances on one KV share the secret; another KV does not accept the token", () =>
  withKv(async (cp, kv) => {
    const again = { kv, state: localState(kv) } as ControlPlane;
    assert.equal(await sessionSecret(cp), await sessionSecret(again));
    const { token } = await issueSessionToken(cp, PUB);
    assert.ok(await verifySessionToken(again, token));
    await withKv(async (other) => {
      assert.equal(await verifySessionToken(other, token), null);
    });
  }));

Deno.test("session - cookie flags, the guard redirects without a session, logout revokes the token", () =>
  withKv(async (cp) => {
    const app = new Hono<AppEnv>();
    app.post("/login", async (c) => {
      await startSession(cp, c, PUB);
      return c.text("ok");
    });
    app.get("/operator", requireOperator(cp), (c) => c.text(c.get("operatorPubkey")));
    app.post("/operator/payout-address", requireOperator(cp), (c) => c.text("saved"));
    app.post("/logout", async (c) => {
      await endSession(cp, c);
      return c.text("bye");
    });

    const anon = await app.request("/operator?tab=jobs");
    assert.equal(anon.status, 303);
    assert.equal(anon.headers.get("location"), "/login?next=%2Foperator%3Ftab%3Djobs");
    // A form posted without a session comes back to the page, not to its POST-only path.
    const posted = await app.request("/operator/payout-address", { method: "POST" });
    assert.equal(posted.headers.get("location"), "/login?next=%2Foperator");

    const login = await app.request("/login", { method: "POST" });
    const setCookie = login.headers.get("set-cookie") ?? "";
    assert.match(setCookie, new RegExp(`^${SESSION_COOKIE}=`));
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.match(setCookie, /Max-Age=3600/);
    const cookie = setCookie.split(";")[0];

    const page = await app.request("/operator", { headers: { cookie } });
    assert.equal(page.status, 200);
    assert.equal(await page.text(), PUB);

    const out = await app.request("/logout", { method: "POST", headers: { cookie } });
    assert.match(out.headers.get("set-cookie") ?? "", /Max-Age=0/);
    const after = await app.request("/operator", { headers: { cookie } });
    assert.equal(after.status, 303, "the old cookie no longer works after logout");
  }));

Deno.test("session - the cookie is Secure when the public URL is https, even behind a plain-HTTP proxy hop", () =>
  withKv(async (kv) => {
    for (const [publicUrl, secure] of [["https://infernet.example", true], [undefined, false]] as const) {
      const cp = { kv: kv.kv, state: kv.state, config: { publicUrl } } as unknown as ControlPlane;
      const app = new Hono<AppEnv>();
      app.post("/login", async (c) => {
        await startSession(cp, c, PUB);
        return c.text("ok");
      });
      const login = await app.request("http://127.0.0.1/login", { method: "POST" });
      const flags = login.headers.get("set-cookie") ?? "";
      assert.equal(/;\s*Secure/i.test(flags), secure, `${publicUrl}: ${flags}`);
    }
  }));

Deno.test("session - an operator session carries its role; a node token has no role claim, as before", () =>
  withKv(async (cp) => {
    const node = await issueSessionToken(cp, PUB);
    assert.equal(node.session.role, "node");
    const claims = JSON.parse(atob(node.token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    assert.equal("role" in claims, false);
    assert.equal((await verifySessionToken(cp, node.token))?.role, "node");
    const op = await issueSessionToken(cp, PUB, undefined, "operator");
    assert.equal((await verifySessionToken(cp, op.token))?.role, "operator");
    const secret = await sessionSecret(cp);
    const now = Math.floor(Date.now() / 1000);
    const odd = await sign(
      { sub: PUB, sid: "x", exp: now + 60, aud: "infernet-dashboard", role: "admin" },
      secret,
    );
    assert.equal(await verifySessionToken(cp, odd), null, "an unknown role is no session");
  }));
