// Consumers' sessions on the account page: signing in with an API key opens a server-side session
// (db/consumer_sessions.ts) as long as an operator's; the cookie carries only the session's random
// token (HttpOnly, SameSite=Strict, Path=/, Secure when the public URL or the request is https).
// Every request looks the token up, so an expired or revoked session is refused at once.
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import {
  type ConsumerSessionRow,
  createConsumerSession,
  findConsumerSession,
  type LiveConsumerSession,
} from "../../db/mod.ts";
import type { AppContext } from "../app_env.ts";
import type { ControlPlane } from "../control_plane.ts";
import { DEFAULT_SESSION_TTL_S, secureCookies } from "./session.ts";

/** The cookie that carries the consumer's session token (never the API key). */
export const ACCOUNT_COOKIE = "infernet_account";

/** The cookie that held the raw API key before sessions: removed wherever it is seen. */
export const LEGACY_KEY_COOKIE = "infernet_key";

/** A session token as issued: 32 random bytes, unpadded base64url. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** How long a consumer's session lasts: the dashboard's session lifetime. */
export function accountSessionTtlS(cp: ControlPlane): number {
  return cp.config.sessionTtlS ?? DEFAULT_SESSION_TTL_S;
}

/** Opens a session for the key and sets its cookie on the response. */
export async function startAccountSession(
  cp: ControlPlane,
  c: AppContext,
  apiKeyId: bigint,
): Promise<ConsumerSessionRow> {
  const ttlS = accountSessionTtlS(cp);
  const { token, session } = await createConsumerSession(cp.db.sql, {
    apiKeyId,
    ttlS,
    userAgent: c.req.header("user-agent") ?? "",
  });
  setCookie(c, ACCOUNT_COOKIE, token, {
    httpOnly: true,
    sameSite: "Strict",
    secure: secureCookies(cp, c),
    path: "/",
    maxAge: ttlS,
  });
  return session;
}

/** The request's live session, or null (no cookie, a malformed one, expired, revoked). */
export async function currentAccountSession(
  cp: ControlPlane,
  c: AppContext,
): Promise<LiveConsumerSession | null> {
  const token = getCookie(c, ACCOUNT_COOKIE);
  return token && TOKEN.test(token) ? await findConsumerSession(cp.db.sql, token) : null;
}

/** Clears the session cookie (the session itself is revoked by the caller). */
export function clearAccountCookie(cp: ControlPlane, c: AppContext): void {
  deleteCookie(c, ACCOUNT_COOKIE, { path: "/", secure: secureCookies(cp, c) });
}
