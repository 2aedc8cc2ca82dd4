// POST /api/keys: an API key with no account. Random, shown once, stored hashed; rate limited
// per address so the endpoint cannot be used to fill the database. POST /api/keys/revoke: the
// key in the Authorization header stops working, on every instance at once.
import type { AppContext } from "../app_env.ts";
import { createApiKey, revokeApiKey } from "../../db/mod.ts";
import { compileSchema, type JsonSchema } from "../../shared/mod.ts";
import type { ControlPlane } from "../control_plane.ts";
import { HttpError } from "../http_error.ts";
import { readJsonBody } from "../http_body.ts";

/** A key's body is at most a label: anything larger is not a key request. */
const MAX_KEY_BODY_BYTES = 16 * 1024;

/** The caller's address as the server saw it (no proxy headers are trusted). */
export function clientAddress(c: AppContext): string {
  const info = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  return info?.remoteAddr?.hostname ?? "unknown";
}

/** `POST /api/keys`'s optional body (published in /openapi.json). */
export const KEY_REQUEST_SCHEMA: JsonSchema = {
  type: "object",
  title: "KeyRequest",
  properties: {
    label: { type: "string", description: "A name for the key; the first 100 characters are kept." },
  },
};

const checkKeyRequest = compileSchema(KEY_REQUEST_SCHEMA);

/** The handler that creates an API key. */
export function createKey(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> => {
    const wait = await cp.keyCreationLimiter.take(clientAddress(c));
    if (wait > 0) {
      c.header("retry-after", String(wait));
      throw new HttpError(429, `Too many keys created from this address; retry in ${wait} s.`, {
        code: "rate_limited",
      });
    }
    const body = await readJsonBody(c.req.raw, { maxBytes: MAX_KEY_BODY_BYTES, emptyAs: null });
    let label: string | null = null;
    if (body !== null) {
      const issue = checkKeyRequest(body);
      if (issue !== null) {
        throw new HttpError(400, issue.message, { code: "invalid_request", param: issue.param });
      }
      label = (body as { label?: string }).label?.slice(0, 100) ?? null;
    }
    const { key, row } = await createApiKey(cp.db.sql, { label });
    return c.json({
      key,
      id: row.id.toString(),
      prefix: row.keyPrefix,
      label: row.label,
      created_at: row.createdAt.toISOString(),
      note: "Store this key now: it is shown only once.",
    }, 201);
  };
}

/** The handler that revokes the caller's own key (a leaked one, say). */
export function revokeKey(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> => {
    const caller = await cp.auth.authenticate(c.req.header("authorization") ?? null);
    if (caller.platform) {
      throw new HttpError(403, "The platform's canary key cannot be revoked.", { code: "permission_denied" });
    }
    const hash = await revokeApiKey(cp.db.sql, caller.apiKeyId);
    // Cached lookups go at once, here and (over NATS) on every other instance.
    cp.auth.forget(caller.keyHash);
    await cp.cluster?.invalidate({ kind: "api_key", key: caller.keyHash });
    return c.json({ id: caller.apiKeyId.toString(), revoked: hash !== null });
  };
}
