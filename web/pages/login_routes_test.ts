// Operator login over real HTTP against a served control plane: device codes typed in a browser
// (wrong, expired, used twice, rate-limited), approvals signed by the wrong key or replayed, Nostr
// sign-in (forged, reused, stale, wrong URL, unregistered, cross-origin), `next` redirects, logout.
import assert from "node:assert/strict";
import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure";
import {
  createNip98Header,
  createNodeRecord,
  createOperatorClaim,
  verifyNodeRecord,
  verifyOperatorClaim,
} from "../../shared/mod.ts";
import { submitClaim } from "../../db/mod.ts";
import { sampleAdvert } from "../../testing/mod.ts";
import { openTestControlPlane, type TestControlPlane } from "../../testing/control_plane.ts";
import type { DeviceLogin } from "../auth/device_login.ts";
import { SESSION_COOKIE, verifySessionToken } from "../auth/session.ts";
import { LOGIN_COOKIE, safeNext } from "./login_routes.tsx";

interface Env {
  tcp: TestControlPlane;
  url: string;
  sk: Uint8Array;
  pubkey: string;
}

async function registeredKey(tcp: TestControlPlane): Promise<Uint8Array> {
  const sk = generateSecretKey();
  const result = verifyNodeRecord(createNodeRecord(sk, sampleAdvert()));
  assert.ok(result.ok);
  await tcp.cp.registry.register(result.record);
  return sk;
}

async function withEnv(fn: (env: Env) => Promise<void>): Promise<void> {
  const tcp = await openTestControlPlane({ serve: true });
  try {
    const sk = await registeredKey(tcp);
    await fn({ tcp, url: tcp.server!.url, sk, pubkey: getPublicKey(sk) });
  } finally {
    await tcp.close();
  }
}

function signed(
  url: string,
  path: string,
  sk: Uint8Array,
  payload: unknown,
): { headers: Headers; body: string } {
  const body = JSON.stringify(payload);
  return {
    body,
    headers: new Headers({
      authorization: createNip98Header(sk, url + path, "POST", body),
      "content-type": "application/json",
    }),
  };
}

async function api(url: string, path: string, sk: Uint8Array | null, payload: unknown) {
  const req = sk ? signed(url, path, sk, payload) : { body: JSON.stringify(payload), headers: new Headers() };
  const res = await fetch(url + path, { method: "POST", ...req });
  return { status: res.status, body: await res.json() };
}

function cookieOf(res: Response, name: string): string | null {
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const [k, v] = pair.split("=");
    if (k === name) return v || null;
  }
  return null;
}

async function enterCode(url: string, code: string, next = "/operator") {
  const res = await fetch(`${url}/login/device`, {
    method: "POST",
    redirect: "manual",
    headers: {
      origin: url,
      "content-type": "application/x-www-form-urlencoded",
      "user-agent": "TestBrowser/1.0",
    },
    body: new URLSearchParams({ code, next }),
  });
  const text = await res.text();
  return { res, text, cookie: cookieOf(res, LOGIN_COOKIE) };
}

async function waitPage(url: string, cookie: string, next = "/operator") {
  const res = await fetch(`${url}/login/device/wait?${new URLSearchParams({ next })}`, {
    redirect: "manual",
    headers: { cookie: `${LOGIN_COOKIE}=${cookie}` },
  });
  return { res, text: await res.text(), session: cookieOf(res, SESSION_COOKIE) };
}

Deno.test("login - an approved device login signs the browser in once, and logout revokes it", async () => {
  await withEnv(async ({ tcp, url, sk, pubkey }) => {
    const start = await api(url, "/api/login/device", sk, {});
    assert.equal(start.status, 201);
    assert.match(start.body.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    assert.equal(start.body.verification_uri, `${url}/login/device`);
    assert.equal(start.body.expires_in, 600);
    const code = start.body.device_code;

    // Typed in lower case without the dash: still the code.
    const typed = start.body.user_code.replace("-", "").toLowerCase();
    const claim = await enterCode(url, typed, "/operator/earnings?x=1");
    assert.equal(claim.res.status, 303);
    assert.ok(claim.cookie);
    const setCookie = claim.res.headers.getSetCookie().join(";");
    assert.match(setCookie, /HttpOnly/i);
    assert.match(setCookie, /SameSite=Strict/i);

    const waiting = await waitPage(url, claim.cookie!);
    assert.equal(waiting.res.status, 200);
    assert.match(waiting.text, /http-equiv="refresh"/);
    assert.equal(waiting.session, null);

    const poll = await api(url, "/api/login/device/poll", sk, { device_code: code });
    assert.equal(poll.body.status, "claimed");
    assert.equal(poll.body.browser.user_agent, "TestBrowser/1.0");
    assert.equal(poll.body.browser.address, "127.0.0.1");

    const ok = await api(url, "/api/login/device/decision", sk, { device_code: code, approve: true });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.status, "approved");

    const done = await waitPage(url, claim.cookie!, "/operator/earnings?x=1");
    assert.equal(done.res.status, 303);
    assert.equal(done.res.headers.get("location"), "/operator/earnings?x=1");
    assert.ok(done.session);
    assert.equal((await verifySessionToken(tcp.cp, done.session!))?.pubkey, pubkey);

    // The approval is spent: the same browser cookie gets no second session.
    const again = await waitPage(url, claim.cookie!);
    assert.equal(again.res.status, 410);
    assert.equal(again.session, null);
    assert.equal(
      (await api(url, "/api/login/device/poll", sk, { device_code: code })).body.status,
      "complete",
    );

    // Signed in: the nav offers sign-out; the sign-out form revokes the token.
    const page =
      await (await fetch(`${url}/login`, { headers: { cookie: `${SESSION_COOKIE}=${done.session}` } }))
        .text();
    assert.match(page, /action="\/logout"/);
    assert.match(page, /Signed in as operator/);
    const crossSite = await fetch(`${url}/logout`, {
      method: "POST",
      redirect: "manual",
      headers: {
        cookie: `${SESSION_COOKIE}=${done.session}`,
        origin: "https://evil.example",
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "",
    });
    assert.equal(crossSite.status, 403);
    await crossSite.body?.cancel();
    assert.ok(await verifySessionToken(tcp.cp, done.session!), "a cross-site POST changed nothing");
    const out = await fetch(`${url}/logout`, {
      method: "POST",
      redirect: "manual",
      headers: {
        cookie: `${SESSION_COOKIE}=${done.session}`,
        origin: url,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "",
    });
    assert.equal(out.status, 303);
    assert.equal(out.headers.get("location"), "/login");
    await out.body?.cancel();
    assert.equal(await verifySessionToken(tcp.cp, done.session!), null);
  });
});

Deno.test("login - a wrong code, an expired code and a code entered twice are refused clearly", async () => {
  await withEnv(async ({ tcp, url, sk }) => {
    const wrong = await enterCode(url, "BCDF-GHJK");
    assert.equal(wrong.res.status, 400);
    assert.match(wrong.text, /No login is waiting for that code/);
    assert.equal(wrong.cookie, null);
    const junk = await enterCode(url, "hello");
    assert.equal(junk.res.status, 400);
    assert.match(junk.text, /not a login code/);

    const first = await api(url, "/api/login/device", sk, {});
    const a = await enterCode(url, first.body.user_code);
    assert.equal(a.res.status, 303);
    const b = await enterCode(url, first.body.user_code);
    assert.equal(b.res.status, 410);
    assert.match(b.text, /already entered/);
    assert.equal(b.cookie, null);

    // Expiry: the stored deadline moved into the past (the KV entry itself lingers a minute).
    const second = await api(url, "/api/login/device", sk, {});
    const key = ["login_device", second.body.device_code];
    const entry = await tcp.cp.state.kv.get<DeviceLogin>(key);
    await tcp.cp.state.kv.set(key, { ...entry.value!, expiresAtMs: Date.now() - 1 });
    const late = await enterCode(url, second.body.user_code);
    assert.equal(late.res.status, 410);
    assert.match(late.text, /expired/);
    const poll = await api(url, "/api/login/device/poll", sk, { device_code: second.body.device_code });
    assert.equal(poll.body.status, "expired");
  });
});

Deno.test("login - only the starting node key may approve, once, and a replayed approval changes nothing", async () => {
  await withEnv(async ({ tcp, url, sk }) => {
    const other = await registeredKey(tcp);
    const start = await api(url, "/api/login/device", sk, {});
    const code = start.body.device_code;
    const early = await api(url, "/api/login/device/decision", sk, { device_code: code, approve: true });
    assert.equal(early.status, 409, "nothing to approve before a browser claims it");
    const claim = await enterCode(url, start.body.user_code);

    const unsigned = await api(url, "/api/login/device/decision", null, { device_code: code, approve: true });
    assert.equal(unsigned.status, 401);
    const foreign = await api(url, "/api/login/device/decision", other, { device_code: code, approve: true });
    assert.equal(foreign.status, 403);
    assert.equal((await api(url, "/api/login/device/poll", other, { device_code: code })).status, 403);
    assert.equal(
      (await api(url, "/api/login/device/poll", sk, { device_code: code })).body.status,
      "claimed",
    );
    assert.equal((await waitPage(url, claim.cookie!)).session, null);

    const path = "/api/login/device/decision";
    const req = signed(url, path, sk, { device_code: code, approve: true });
    const first = await fetch(url + path, { method: "POST", ...req });
    assert.equal(first.status, 200);
    await first.body?.cancel();
    const replay = await fetch(url + path, { method: "POST", ...req });
    assert.equal(replay.status, 401);
    assert.equal((await replay.json()).error.code, "nip98_replayed");
    const twice = await api(url, path, sk, { device_code: code, approve: false });
    assert.equal(twice.status, 409, "a decision is final");
    assert.equal(
      (await api(url, "/api/login/device/poll", sk, { device_code: code })).body.status,
      "approved",
    );
  });
});

Deno.test("login - an unregistered node key cannot start a login, and a denied browser is told", async () => {
  await withEnv(async ({ url, sk }) => {
    const stranger = await api(url, "/api/login/device", generateSecretKey(), {});
    assert.equal(stranger.status, 403);
    assert.match(stranger.body.error.message, /not registered/);

    const start = await api(url, "/api/login/device", sk, {});
    const claim = await enterCode(url, start.body.user_code);
    const no = await api(url, "/api/login/device/decision", sk, {
      device_code: start.body.device_code,
      approve: false,
    });
    assert.equal(no.body.status, "denied");
    const page = await waitPage(url, claim.cookie!);
    assert.equal(page.res.status, 403);
    assert.match(page.text, /denied this browser/);
    assert.equal(page.session, null);
  });
});

Deno.test("login - code entries, login starts and Nostr attempts are rate limited", async () => {
  await withEnv(async ({ url, sk }) => {
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await enterCode(url, "BCDF-GHJK")).res.status);
    assert.deepEqual(statuses.slice(0, 10), Array(10).fill(400));
    const limited = await enterCode(url, "BCDF-GHJK");
    assert.equal(limited.res.status, 429);
    assert.match(limited.text, /Too many login attempts/);
    assert.ok(Number(limited.res.headers.get("retry-after")) > 0);

    const starts: number[] = [];
    for (let i = 0; i < 6; i++) starts.push((await api(url, "/api/login/device", sk, {})).status);
    assert.deepEqual(starts, [201, 201, 201, 201, 201, 429]);

    const nostr: number[] = [];
    for (let i = 0; i < 21; i++) {
      nostr.push(
        await fetch(`${url}/login/nostr/challenge`).then(async (r) => {
          await r.body?.cancel();
          return r.status;
        }),
      );
    }
    assert.deepEqual(nostr.slice(0, 20), Array(20).fill(200));
    assert.equal(nostr.at(-1), 429);
  });
});

Deno.test("login - next is only ever a local path", () => {
  for (
    const bad of [
      "//evil.example",
      "/\\evil.example",
      "https://evil.example/",
      "evil",
      "/\t/evil.example",
      "",
    ]
  ) {
    assert.equal(safeNext(bad), "/operator", bad);
  }
  assert.equal(safeNext(undefined), "/operator");
  assert.equal(safeNext("/operator/earnings?day=1"), "/operator/earnings?day=1");
});

async function nostrLogin(url: string, event: unknown, next = "/operator", origin = url) {
  const res = await fetch(`${url}/login/nostr`, {
    method: "POST",
    headers: { "content-type": "application/json", origin },
    body: JSON.stringify({ event, next }),
  });
  return { status: res.status, body: await res.json(), session: cookieOf(res, SESSION_COOKIE) };
}

async function challenge(url: string): Promise<{ challenge: string; url: string; kind: number }> {
  return await (await fetch(`${url}/login/nostr/challenge`)).json();
}

function loginEvent(
  sk: Uint8Array,
  ch: { challenge: string; url: string },
  over: { createdAt?: number } = {},
) {
  return finalizeEvent({
    kind: 27235,
    created_at: over.createdAt ?? Math.floor(Date.now() / 1000),
    tags: [["u", ch.url], ["method", "POST"], ["challenge", ch.challenge]],
    content: "",
  }, sk);
}

Deno.test("login - Sign in with Nostr starts a session; forged, reused, stale, misdirected or foreign events do not", async () => {
  await withEnv(async ({ tcp, url, sk, pubkey }) => {
    const ch = await challenge(url);
    assert.equal(ch.url, `${url}/login/nostr`);
    assert.equal(ch.kind, 27235);
    const event = loginEvent(sk, ch);

    // Forged: the challenge swapped after signing (the id no longer matches), and a signature
    // from another key under this key's name. Neither spends the challenge.
    const swapped = { ...event, tags: [["u", ch.url], ["method", "POST"], ["challenge", "ab".repeat(32)]] };
    assert.equal((await nostrLogin(url, swapped)).status, 401);
    const impostor = loginEvent(generateSecretKey(), ch);
    assert.equal((await nostrLogin(url, { ...impostor, pubkey })).status, 401);
    assert.equal((await nostrLogin(url, event, "/", "https://evil.example")).status, 403);

    const ok = await nostrLogin(url, event, "//evil.example/steal");
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.redirect, "/operator");
    assert.equal((await verifySessionToken(tcp.cp, ok.session!))?.pubkey, pubkey);

    const reused = await nostrLogin(url, event);
    assert.equal(reused.status, 401);
    assert.match(reused.body.error.message, /challenge/);
    const reusedChallenge = await nostrLogin(url, loginEvent(sk, ch));
    assert.equal(reusedChallenge.status, 401);

    const stale = await nostrLogin(
      url,
      loginEvent(sk, await challenge(url), { createdAt: Date.now() / 1000 - 120 | 0 }),
    );
    assert.equal(stale.status, 401);
    assert.match(stale.body.error.message, /stale/);
    const elsewhere = await nostrLogin(
      url,
      loginEvent(sk, { ...await challenge(url), url: "https://evil.example/login/nostr" }),
    );
    assert.equal(elsewhere.status, 401);
    assert.match(elsewhere.body.error.message, /u tag/);
    const stranger = await nostrLogin(url, loginEvent(generateSecretKey(), await challenge(url)));
    assert.equal(stranger.status, 403);
    assert.match(stranger.body.error.message, /not a node registered here/);
    assert.equal(stranger.session, null);
  });
});

Deno.test("login - a cross-site code form is refused, and a foreign next falls back to /operator", async () => {
  await withEnv(async ({ url, sk }) => {
    const start = await api(url, "/api/login/device", sk, {});
    const forged = await fetch(`${url}/login/device`, {
      method: "POST",
      redirect: "manual",
      headers: { origin: "https://evil.example", "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ code: start.body.user_code }),
    });
    assert.equal(forged.status, 403);
    await forged.body?.cancel();
    assert.equal(
      (await api(url, "/api/login/device/poll", sk, { device_code: start.body.device_code })).body.status,
      "pending",
    );

    const claim = await enterCode(url, start.body.user_code, "//evil.example/x");
    assert.equal(claim.res.headers.get("location"), "/login/device/wait?next=%2Foperator");
    await api(url, "/api/login/device/decision", sk, { device_code: start.body.device_code, approve: true });
    const done = await waitPage(url, claim.cookie!, "https://evil.example/");
    assert.equal(done.res.headers.get("location"), "/operator");
    assert.ok(done.session);

    const form = await fetch(`${url}/login/nostr`, {
      method: "POST",
      headers: { origin: url, "content-type": "text/plain" },
      body: "{}",
    });
    assert.equal(form.status, 403, "the Nostr endpoint takes same-origin JSON only");
    await form.body?.cancel();
  });
});

Deno.test("login - an operator key a node has claimed signs in with Nostr as an operator", async () => {
  await withEnv(async ({ tcp, url, sk }) => {
    const op = generateSecretKey();
    const stranger = await nostrLogin(url, loginEvent(op, await challenge(url)));
    assert.equal(stranger.status, 403, "no claim names it yet");
    // The node's claim, not yet countersigned, is enough to sign in (to countersign it).
    const claim = verifyOperatorClaim(createOperatorClaim(sk, getPublicKey(op)));
    assert.ok(claim.ok);
    await submitClaim(tcp.cp.db.sql, claim.value);
    const ok = await nostrLogin(url, loginEvent(op, await challenge(url)));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.role, "operator");
    const session = await verifySessionToken(tcp.cp, ok.session!);
    assert.deepEqual([session?.pubkey, session?.role], [getPublicKey(op), "operator"]);
    // The node itself still signs in as a node.
    const node = await nostrLogin(url, loginEvent(sk, await challenge(url)));
    assert.equal(node.body.role, "node");
    assert.equal((await verifySessionToken(tcp.cp, node.session!))?.role, "node");
  });
});
