// The account page's sign-in: an API key opens a short server-side session whose cookie carries
// no key material, Secure with an https public URL; expired, revoked and signed-out sessions are
// refused on the next request; a key revokes only its own sessions; sign-ins are rate limited.
import assert from "node:assert/strict";
import { createApp } from "../app.ts";
import { createApiKey, hashApiKey, hashSessionToken } from "../../db/mod.ts";
import { LOGIN_LIMITS } from "../auth/login_limits.ts";
import type { WebConfig } from "../config.ts";
import { openTestControlPlane, type TestControlPlane } from "../../testing/control_plane.ts";

const ORIGIN = "http://cp.test";

async function withApp(
  fn: (t: TestControlPlane, app: ReturnType<typeof createApp>) => Promise<void>,
  config: Partial<WebConfig> = {},
) {
  const t = await openTestControlPlane({ config });
  try {
    await fn(t, createApp(t.cp));
  } finally {
    await t.close();
  }
}

type App = ReturnType<typeof createApp>;

function post(app: App, path: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return app.request(ORIGIN + path, {
    method: "POST",
    headers: { origin: ORIGIN, "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(fields),
  });
}

/** Signs `key` in as a browser with this user agent; returns the Set-Cookie line and the cookie. */
async function signIn(app: App, key: string, userAgent = "TestBrowser/1") {
  const res = await post(app, "/account/login", { key }, { "user-agent": userAgent });
  assert.equal(res.status, 303, await res.text());
  const setCookie = res.headers.get("set-cookie") ?? "";
  return { setCookie, cookie: setCookie.split(";")[0] };
}

async function page(app: App, cookie: string, path = "/account") {
  const res = await app.request(ORIGIN + path, { headers: { cookie } });
  return { res, html: await res.text() };
}

const SIGNED_IN = /data-stat="balance"/;
const SIGN_IN_FORM = /<form method="post" action="\/account\/login"/;

function sessionIds(html: string): string[] {
  return [...html.matchAll(/<tr\s+data-session="(\d+)">/g)].map((m) => m[1]);
}

Deno.test("account sessions - the cookie holds a session token, never the key, with the right flags", async () => {
  await withApp(async (t, app) => {
    const { setCookie, cookie } = await signIn(app, t.apiKey);
    const token = cookie.slice("infernet_account=".length);
    assert.match(token, /^[\w-]{43}$/);
    assert.ok(!setCookie.includes(t.apiKey) && !setCookie.includes(hashApiKey(t.apiKey)), setCookie);
    assert.match(setCookie, /; Max-Age=3600;/, "the dashboard's session lifetime");
    assert.match(setCookie, /; Path=\/;/);
    assert.match(setCookie, /; HttpOnly;/);
    assert.match(setCookie, /; SameSite=Strict$/);
    assert.doesNotMatch(setCookie, /; Secure/, "no https public URL: not Secure");
    assert.match((await page(app, cookie)).html, SIGNED_IN);

    // The database holds the token's hash only, with the browser and an expiry one TTL away.
    const rows = await t.cp.db.sql<{ token_hash: string; user_agent: string; ttl: number }[]>`
      select token_hash, user_agent, extract(epoch from expires_at - created_at)::int as ttl
      from consumer_sessions`;
    assert.deepEqual([...rows], [{
      token_hash: hashSessionToken(token),
      user_agent: "TestBrowser/1",
      ttl: 3600,
    }]);
  });
});

Deno.test("account sessions - with an https public URL the cookie is Secure and lasts the configured TTL", async () => {
  await withApp(async (t, app) => {
    const { setCookie, cookie } = await signIn(app, t.apiKey);
    assert.match(setCookie, /; Secure;/);
    assert.match(setCookie, /; Max-Age=600;/);
    assert.match((await page(app, cookie)).html, SIGNED_IN);
    const out = await post(app, "/account/logout", {}, { cookie });
    assert.match(out.headers.get("set-cookie") ?? "", /^infernet_account=;.*Max-Age=0.*Secure/);
  }, { publicUrl: "https://infernet.example", sessionTtlS: 600 });
});

Deno.test("account sessions - an expired session is refused and shows the sign-in form", async () => {
  await withApp(async (t, app) => {
    const { cookie } = await signIn(app, t.apiKey);
    assert.match((await page(app, cookie)).html, SIGNED_IN);
    await t.cp.db.sql`update consumer_sessions set expires_at = now() - interval '1 second'`;
    const { res, html } = await page(app, cookie);
    assert.equal(res.status, 200);
    assert.match(html, SIGN_IN_FORM);
    assert.doesNotMatch(html, SIGNED_IN);
    const csv = await app.request(`${ORIGIN}/account/usage.csv`, { headers: { cookie } });
    assert.equal(csv.status, 303);
    const status = await app.request(`${ORIGIN}/account/deposits/x/status`, { headers: { cookie } });
    assert.equal(status.status, 401);
    const deposit = await post(app, "/account/deposits", { amount_usd: "5", coin: "BTC" }, { cookie });
    assert.equal(deposit.status, 303);
    assert.equal(deposit.headers.get("location"), "/account");
  });
});

Deno.test("account sessions - a session revoked from another browser is refused on its next request", async () => {
  await withApp(async (t, app) => {
    const a = await signIn(app, t.apiKey, "Browser A");
    const b = await signIn(app, t.apiKey, "Browser B");
    const c = await signIn(app, t.apiKey, "Browser C");
    const { html } = await page(app, a.cookie);
    assert.equal(sessionIds(html).length, 3, "the page lists the key's sessions");
    assert.match(html, /Browser A<br\/?><strong>this browser<\/strong>/);
    assert.match(html, /Browser B/);

    // A signs B out by its id: B's very next request is refused, A and C stay in.
    const [bId] = await t.cp.db.sql<
      { id: bigint }[]
    >`select id from consumer_sessions where user_agent = 'Browser B'`;
    const revoke = await post(app, "/account/sessions/revoke", { id: String(bId.id) }, { cookie: a.cookie });
    assert.equal(revoke.status, 303);
    assert.equal(revoke.headers.get("set-cookie"), null, "A's own cookie is kept");
    assert.match((await page(app, b.cookie)).html, SIGN_IN_FORM);
    assert.match((await page(app, c.cookie)).html, SIGNED_IN);
    assert.equal(sessionIds((await page(app, a.cookie)).html).length, 2);

    // Sign out everywhere: every session of the key, A's included.
    const all = await post(app, "/account/sessions/revoke-all", {}, { cookie: c.cookie });
    assert.equal(all.status, 303);
    assert.match(all.headers.get("set-cookie") ?? "", /^infernet_account=;.*Max-Age=0/);
    assert.match((await page(app, a.cookie)).html, SIGN_IN_FORM);
    assert.match((await page(app, c.cookie)).html, SIGN_IN_FORM);

    // Signing out ends the session on the server: the old cookie, replayed, opens nothing.
    const d = await signIn(app, t.apiKey);
    assert.equal((await post(app, "/account/logout", {}, { cookie: d.cookie })).status, 303);
    assert.match((await page(app, d.cookie)).html, SIGN_IN_FORM);
  });
});

Deno.test("account sessions - one key's session cannot revoke another key's session", async () => {
  await withApp(async (t, app) => {
    const { key: otherKey } = await createApiKey(t.cp.db.sql);
    const mine = await signIn(app, t.apiKey);
    const theirs = await signIn(app, otherKey);
    const theirIds = sessionIds((await page(app, theirs.cookie)).html);
    assert.equal(theirIds.length, 1);
    const mineHtml = (await page(app, mine.cookie)).html;
    assert.ok(!sessionIds(mineHtml).includes(theirIds[0]), "another key's sessions are not listed");

    const refused = await post(app, "/account/sessions/revoke", { id: theirIds[0] }, { cookie: mine.cookie });
    assert.equal(refused.status, 404);
    assert.match(await refused.text(), /No such session for this API key\./);
    assert.match((await page(app, theirs.cookie)).html, SIGNED_IN, "their session still works");
    // Nor does "sign out everywhere" reach past the key.
    await post(app, "/account/sessions/revoke-all", {}, { cookie: mine.cookie });
    assert.match((await page(app, theirs.cookie)).html, SIGNED_IN);

    for (const id of ["0", "-1", "abc", "99999999999999999999", ""]) {
      const bad = await post(app, "/account/sessions/revoke", { id }, { cookie: theirs.cookie });
      assert.equal(bad.status, 404, `id ${JSON.stringify(id)}`);
      await bad.body?.cancel();
    }
    assert.match((await page(app, theirs.cookie)).html, SIGNED_IN);
  });
});

Deno.test("account sessions - a revoked API key's sessions end with it", async () => {
  await withApp(async (t, app) => {
    const { cookie } = await signIn(app, t.apiKey);
    await t.cp.db.sql`update api_keys set revoked_at = now() where key_hash = ${hashApiKey(t.apiKey)}`;
    assert.match((await page(app, cookie)).html, SIGN_IN_FORM);
  });
});

Deno.test("account sessions - a cookie holding a raw API key signs nothing in and is removed", async () => {
  await withApp(async (t, app) => {
    const { res, html } = await page(app, `infernet_key=${t.apiKey}`);
    assert.match(html, SIGN_IN_FORM);
    assert.match(res.headers.get("set-cookie") ?? "", /^infernet_key=;.*Max-Age=0/);
    // Nor does a raw key in the session cookie.
    assert.match((await page(app, `infernet_account=${t.apiKey}`)).html, SIGN_IN_FORM);
  });
});

Deno.test("account sessions - sign-ins are rate limited per address, valid keys included", async () => {
  await withApp(async (t, app) => {
    const burst = LOGIN_LIMITS.accountPerAddress.burst;
    for (let i = 0; i < burst - 1; i++) {
      const bad = await post(app, "/account/login", { key: `inf_guess${i}` });
      assert.equal(bad.status, 401);
      await bad.body?.cancel();
    }
    await signIn(app, t.apiKey);
    const limited = await post(app, "/account/login", { key: t.apiKey });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get("retry-after")) > 0);
    assert.equal(limited.headers.get("set-cookie"), null);
    assert.match(await limited.text(), /Too many sign-in attempts from this address/);
  });
});

Deno.test("account sessions - cross-site posts to sign in or out are refused", async () => {
  await withApp(async (t, app) => {
    const { cookie } = await signIn(app, t.apiKey);
    const evil = { cookie, origin: "https://evil.example" };
    for (const path of ["/account/sessions/revoke-all", "/account/logout", "/account/login"]) {
      const res = await post(app, path, { key: t.apiKey }, evil);
      assert.equal(res.status, 403, path);
      assert.equal(res.headers.get("set-cookie"), null, path);
      await res.body?.cancel();
    }
    assert.match((await page(app, cookie)).html, SIGNED_IN);
    const [{ n }] = await t.cp.db.sql<{ n: bigint }[]>`select count(*)::int8 as n from consumer_sessions`;
    assert.equal(n, 1n);
  });
});
