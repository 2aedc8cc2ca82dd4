// POST /api/keys: an API key with no account. Random, shown once, stored hashed; rate limited
// per address so the endpoint cannot be used to fill the database.
import type { AppContext } from "../app_env.ts";
import { createApiKey } from "../../db/mod.ts";
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
