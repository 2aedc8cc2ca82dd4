// The browser's side of operator login: `/login`, the device-code pages (`/login/device`,
// `/login/device/wait`), Nostr sign-in (`/login/nostr/challenge`, `/login/nostr`) and
// `POST /logout`. Form POSTs are CSRF-checked by the pages' middleware; the Nostr POST must be
// same-origin JSON. A device login is bound to the browser that typed the code by a random
// HttpOnly, SameSite=Strict cookie that lives as long as the code.
import type { Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppContext, AppEnv } from "../app_env.ts";
import type { ControlPlane } from "../control_plane.ts";
import { clientAddress } from "../api/keys.ts";
import { publicBase } from "../api/login.ts";
import {
  claimDeviceLogin,
  completeDeviceLogin,
  formatUserCode,
  loginOfBrowser,
  newBrowserToken,
  normalizeUserCode,
  statusAt,
} from "../auth/device_login.ts";
import { loginLimiters, loginRoleOf } from "../auth/login_limits.ts";
import { issueChallenge, NOSTR_LOGIN_KIND, verifyNostrLogin } from "../auth/nostr_login.ts";
import {
  currentSession,
  DEFAULT_SESSION_TTL_S,
  endSession,
  secureCookies,
  startSession,
} from "../auth/session.ts";
import { DeviceCodePage, DeviceEndPage, DeviceWaitPage, LoginLimitedPage, LoginPage } from "./LoginPage.tsx";
import { renderPage } from "./render.ts";
import { HttpError } from "../http_error.ts";
import { readJsonBody } from "../http_body.ts";

/** The cookie that ties a claimed device login to this browser. */
export const LOGIN_COOKIE = "infernet_login";

/** Where a login goes when it names no (acceptable) destination. */
export const DEFAULT_NEXT = "/operator";

/** A local path to go to after login, or the default: no other origin, no `//host`, no `\`. */
export function safeNext(raw: unknown): string {
  if (typeof raw !== "string" || raw.length > 2000) return DEFAULT_NEXT;
  // Backslashes and control characters: browsers turn `/\host` into `//host`.
  if (!raw.startsWith("/") || raw.startsWith("//") || raw.includes("\\")) return DEFAULT_NEXT;
  for (const ch of raw) if (ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f) return DEFAULT_NEXT;
  return raw;
}

function limitedPage(c: AppContext, waitS: number): Response {
  c.header("retry-after", String(waitS));
  return renderPage(c, <LoginLimitedPage waitS={waitS} />, 429);
}

function jsonError(c: AppContext, status: number, message: string, code: string): Response {
  c.header("cache-control", "no-store");
  return c.json({ error: { message, type: "login_error", code } }, status as 400);
}

/** True when a JSON POST comes from this site's own page (origin and fetch metadata, when sent). */
export function sameOriginJson(cp: ControlPlane, c: AppContext): boolean {
  if (!(c.req.header("content-type") ?? "").toLowerCase().startsWith("application/json")) return false;
  const origin = c.req.header("origin");
  const allowed = [new URL(c.req.url).origin, publicBase(cp, c.req.raw)];
  if (origin !== undefined && !allowed.includes(origin)) return false;
  const site = c.req.header("sec-fetch-site");
  return site === undefined || site === "same-origin";
}

/** Mounts the login and logout routes. */
export function mountLoginRoutes(app: Hono<AppEnv>, cp: ControlPlane): void {
  const limits = loginLimiters(cp);

  app.get("/login", async (c) => {
    const session = await currentSession(cp, c);
    const next = safeNext(c.req.query("next"));
    return renderPage(
      c,
      <LoginPage
        next={next}
        signedInAs={session?.pubkey ?? null}
        sessionMinutes={Math.round((cp.config.sessionTtlS ?? DEFAULT_SESSION_TTL_S) / 60)}
      />,
    );
  });

  app.get("/login/device", (c) => {
    const code = (c.req.query("code") ?? "").slice(0, 20);
    return renderPage(c, <DeviceCodePage code={code} next={safeNext(c.req.query("next"))} />);
  });

  app.post("/login/device", async (c) => {
    const form = await c.req.parseBody();
    const next = safeNext(form.next);
    const typed = typeof form.code === "string" ? form.code.slice(0, 40) : "";
    const address = clientAddress(c);
    const wait = await limits.codePerAddress.take(address);
    if (wait > 0) return limitedPage(c, wait);
    const code = normalizeUserCode(typed);
    const retry = (error: string, status: number) =>
      renderPage(c, <DeviceCodePage code={typed} next={next} error={error} />, status);
    if (!code) {
      return retry("That is not a login code: it has 8 consonants (no vowels), like BCDF-GHJK.", 400);
    }
    const token = newBrowserToken();
    const result = await claimDeviceLogin(cp.state.kv, code, {
      token,
      address,
      userAgent: c.req.header("user-agent") ?? "",
    });
    if (!result.ok) {
      return retry(
        {
          unknown: "No login is waiting for that code. Check it, or run infernet login again.",
          expired: "That code expired. Run infernet login again for a new one.",
          used: "That code was already entered in a browser. Run infernet login again for a new one.",
        }[result.reason],
        result.reason === "unknown" ? 400 : 410,
      );
    }
    setCookie(c, LOGIN_COOKIE, token, {
      httpOnly: true,
      sameSite: "Strict",
      secure: secureCookies(cp, c),
      path: "/login",
      maxAge: Math.max(1, Math.ceil((result.login.expiresAtMs - Date.now()) / 1000)),
    });
    return c.redirect(`/login/device/wait?${new URLSearchParams({ next })}`, 303);
  });

  app.get("/login/device/wait", async (c) => {
    const token = getCookie(c, LOGIN_COOKIE);
    const entry = token ? await loginOfBrowser(cp.state.kv, token) : null;
    const end = (kind: "denied" | "expired" | "none" | "used", status: number) => {
      deleteCookie(c, LOGIN_COOKIE, { path: "/login" });
      return renderPage(c, <DeviceEndPage end={kind} />, status);
    };
    if (!token || !entry?.value) return end(token ? "expired" : "none", token ? 410 : 400);
    const login = entry.value;
    const status = statusAt(login);
    if (status === "approved") {
      const pubkey = await completeDeviceLogin(cp.state.kv, token);
      if (!pubkey) return end("used", 410);
      const role = await loginRoleOf(cp, pubkey);
      if (!role) return end("denied", 403);
      await startSession(cp, c, pubkey, role);
      deleteCookie(c, LOGIN_COOKIE, { path: "/login" });
      return c.redirect(safeNext(c.req.query("next")), 303);
    }
    if (status === "denied") return end("denied", 403);
    if (status === "expired") return end("expired", 410);
    if (status === "complete") return end("used", 410);
    return renderPage(
      c,
      <DeviceWaitPage userCode={formatUserCode(login.userCode)} address={login.claim?.address ?? ""} />,
    );
  });

  /** A 429 when this address has used up its Sign in with Nostr attempts (a challenge and a post each). */
  const nostrLimited = async (c: AppContext) => {
    const wait = await limits.nostrPerAddress.take(clientAddress(c));
    if (wait === 0) return null;
    c.header("retry-after", String(wait));
    return jsonError(
      c,
      429,
      `Too many sign-in attempts from this address; retry in ${wait} s.`,
      "rate_limited",
    );
  };

  app.get("/login/nostr/challenge", async (c) => {
    const limited = await nostrLimited(c);
    if (limited) return limited;
    c.header("cache-control", "no-store");
    return c.json({
      challenge: await issueChallenge(cp.state.kv),
      url: `${publicBase(cp, c.req.raw)}/login/nostr`,
      kind: NOSTR_LOGIN_KIND,
      expires_in: 300,
    });
  });

  app.post("/login/nostr", async (c) => {
    if (!sameOriginJson(cp, c)) {
      return jsonError(c, 403, "Sign in from this site's own login page (same-origin JSON).", "forbidden");
    }
    const limited = await nostrLimited(c);
    if (limited) return limited;
    // A signed login event is small: 64 KB is plenty, and bounds what an anonymous POST can send.
    const body = await readJsonBody(c.req.raw, { maxBytes: 65_536 }).catch((err) => {
      if (err instanceof HttpError && err.status === 413) throw err;
      return null;
    }) as { event?: unknown; next?: unknown } | null;
    const result = await verifyNostrLogin(cp.state.kv, body?.event, {
      url: `${publicBase(cp, c.req.raw)}/login/nostr`,
    });
    if (!result.ok) {
      return jsonError(c, 401, `Nostr sign-in refused: ${result.reason}.`, "nostr_login_invalid");
    }
    const role = await loginRoleOf(cp, result.pubkey);
    if (!role) {
      return jsonError(
        c,
        403,
        "This key is not a node registered here, nor an operator a node has claimed; run 'infernet register' on the node (or 'infernet operator claim' for an operator key) first.",
        "node_not_registered",
      );
    }
    await startSession(cp, c, result.pubkey, role);
    c.header("cache-control", "no-store");
    return c.json({ ok: true, pubkey: result.pubkey, role, redirect: safeNext(body?.next) });
  });

  app.post("/logout", async (c) => {
    await endSession(cp, c);
    return c.redirect("/login", 303);
  });
}
