// Operator sessions for the dashboard: a short-lived JWT (HS256, the server's HMAC secret) in an
// HttpOnly, SameSite=Strict cookie. The secret is INFERNET_SESSION_SECRET when set, else one
// random secret kept in the shared state (so a restart, or another instance, keeps sessions).
// Logout revokes the token's id there until it would have expired anyway.
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { sign, verify } from "hono/jwt";
import type { AppContext, AppMiddleware } from "../app_env.ts";
import type { ControlPlane } from "../control_plane.ts";
import { randomHex } from "./random_hex.ts";
import type { StateKv } from "../state/state_kv.ts";

/** The cookie that carries the operator's session token. */
export const SESSION_COOKIE = "infernet_session";

/** How long a session lasts unless the config says otherwise. */
export const DEFAULT_SESSION_TTL_S = 3600;

const SECRET_KEY = ["auth", "session_secret"];
const REVOKED = "auth_revoked_session";
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Who a session is: a node key (a single-box operator, signed in as the node) or an operator key
 * (docs/protocol.md §10: an identity of its own that has claimed nodes).
 */
export type SessionRole = "node" | "operator";

/** What a valid session says. */
export interface OperatorSession {
  /** The signed-in key (hex): the node's, or the operator's when `role` is `operator`. */
  pubkey: string;
  role: SessionRole;
  /** The token's id (revoked on logout). */
  sid: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

const secrets = new WeakMap<StateKv, Promise<string>>();

/** The HMAC secret: the configured one, else the KV's (created once, shared by instances). */
export function sessionSecret(cp: ControlPlane): Promise<string> {
  const configured = cp.config?.sessionSecret;
  if (configured) return Promise.resolve(configured);
  let secret = secrets.get(cp.state.kv);
  if (!secret) {
    secret = (async () => {
      const fresh = randomHex(32);
      // Only the first writer's secret stands; everyone reads back what is stored.
      await cp.state.kv.atomic().check({ key: SECRET_KEY, versionstamp: null }).set(SECRET_KEY, fresh)
        .commit();
      const stored = await cp.state.kv.get<string>(SECRET_KEY);
      if (typeof stored.value !== "string") throw new Error("session secret missing from KV");
      return stored.value;
    })();
    secrets.set(cp.state.kv, secret);
    secret.catch(() => secrets.delete(cp.state.kv));
  }
  return secret;
}

/** Signs a session token for `pubkey` (hex) valid for the session lifetime from `nowS`. */
export async function issueSessionToken(
  cp: ControlPlane,
  pubkey: string,
  nowS = Math.floor(Date.now() / 1000),
  role: SessionRole = "node",
): Promise<{ token: string; session: OperatorSession }> {
  if (!HEX64.test(pubkey)) throw new Error("a session needs a 64-hex public key");
  const session = {
    pubkey,
    role,
    sid: randomHex(16),
    exp: nowS + (cp.config?.sessionTtlS ?? DEFAULT_SESSION_TTL_S),
  };
  const token = await sign(
    // A node session carries no role claim, exactly as before operators existed.
    {
      sub: session.pubkey,
      sid: session.sid,
      iat: nowS,
      exp: session.exp,
      aud: "infernet-dashboard",
      ...(role === "operator" ? { role } : {}),
    },
    await sessionSecret(cp),
    "HS256",
  );
  return { token, session };
}

/** Verifies a session token: signature, algorithm, expiry, audience, and not logged out. */
export async function verifySessionToken(cp: ControlPlane, token: string): Promise<OperatorSession | null> {
  let payload: Record<string, unknown>;
  try {
    payload = await verify(token, await sessionSecret(cp), { alg: "HS256", aud: "infernet-dashboard" });
  } catch {
    return null;
  }
  const { sub, sid, exp, role } = payload;
  if (typeof sub !== "string" || !HEX64.test(sub) || typeof sid !== "string" || typeof exp !== "number") {
    return null;
  }
  if (role !== undefined && role !== "operator") return null;
  const revoked = await cp.state.kv.get([REVOKED, sid]);
  if (revoked.versionstamp !== null) return null;
  return { pubkey: sub, role: role ?? "node", sid, exp };
}

/**
 * Whether cookies must be `Secure`: the public URL is https (a TLS-terminating proxy in front), or,
 * without one, the request itself was.
 */
export function secureCookies(cp: ControlPlane, c: AppContext): boolean {
  return cp.config?.publicUrl?.startsWith("https:") || new URL(c.req.url).protocol === "https:";
}

/** Starts a session for `pubkey` (a node's, or an operator's): sets the cookie on the response. */
export async function startSession(
  cp: ControlPlane,
  c: AppContext,
  pubkey: string,
  role: SessionRole = "node",
): Promise<OperatorSession> {
  const { token, session } = await issueSessionToken(cp, pubkey, undefined, role);
  setCookie(c, SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: "Strict",
    secure: secureCookies(cp, c),
    path: "/",
    maxAge: session.exp - Math.floor(Date.now() / 1000),
  });
  return session;
}

/** The request's valid session, or null. */
export async function currentSession(cp: ControlPlane, c: AppContext): Promise<OperatorSession | null> {
  const token = getCookie(c, SESSION_COOKIE);
  return token ? await verifySessionToken(cp, token) : null;
}

/** Ends the request's session: revokes its id until expiry and clears the cookie. */
export async function endSession(cp: ControlPlane, c: AppContext): Promise<void> {
  const session = await currentSession(cp, c);
  if (session) {
    const left = Math.max(1, session.exp * 1000 - Date.now());
    await cp.state.kv.set([REVOKED, session.sid], true, { expireIn: left + 60_000 });
  }
  deleteCookie(c, SESSION_COOKIE, { path: "/", secure: secureCookies(cp, c) });
}

/** Middleware for every page: with a valid session, sets `operatorPubkey` (the nav shows it); never refuses. */
export function loadOperator(cp: ControlPlane): AppMiddleware {
  return async (c, next) => {
    const session = await currentSession(cp, c);
    if (session) {
      c.set("operatorPubkey", session.pubkey);
      c.set("sessionRole", session.role);
    }
    await next();
  };
}

/**
 * Middleware for operator pages: with a valid session, `c.get("operatorPubkey")` is the signed-in
 * key and `c.get("sessionRole")` says whose (a node's or an operator's); without one, a redirect to
 * `/login?next=<this path>` (for a form's POST, `/operator`).
 */
export function requireOperator(cp: ControlPlane): AppMiddleware {
  return async (c, next) => {
    const session = await currentSession(cp, c);
    if (!session) {
      // A form posted after the session ended comes back to its page (the POST path has no page).
      const url = new URL(c.req.url);
      const back = c.req.method === "GET" ? url.pathname + url.search : "/operator";
      return c.redirect(`/login?next=${encodeURIComponent(back)}`, 303);
    }
    c.set("operatorPubkey", session.pubkey);
    c.set("sessionRole", session.role);
    await next();
  };
}
