// `/v1` authentication: `Authorization: Bearer <api key>`, looked up by hash with a short cache so
// the request path does not touch the database on every call. A revoked key is forgotten at once
// by every instance (`forget`, called on each through web/cluster/invalidation.ts); the TTL bounds
// how long a missed message could leave it usable.
import { findApiKeyByHash, hashApiKey, type Sql } from "../../../db/mod.ts";
import { HttpError } from "../../http_error.ts";

/** The authenticated caller of a `/v1` request. */
export interface ApiCaller {
  apiKeyId: bigint;
  keyHash: string;
  /**
   * The platform's own canary key (verification): its jobs may reach suspected nodes. Read from
   * the key's row, so no request can claim it.
   */
  platform: boolean;
}

const CACHE_TTL_MS = 30_000;
const CACHE_MAX = 10_000;

/** Resolves API keys to callers, caching hits and misses briefly. */
export class ApiKeyAuth {
  #sql: Sql;
  #cache = new Map<string, { id: bigint | null; platform: boolean; expiresAt: number }>();

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Drops a key's cached lookup: its next request reads the database. */
  forget(keyHash: string): void {
    this.#cache.delete(keyHash);
  }

  /** The caller for an Authorization header, or a 401 HttpError. */
  async authenticate(header: string | null): Promise<ApiCaller> {
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) {
      throw new HttpError(
        401,
        "You didn't provide an API key. Send 'Authorization: Bearer <key>'; create a key with POST /api/keys.",
        { code: "invalid_api_key" },
      );
    }
    const key = match[1];
    const keyHash = hashApiKey(key);
    const now = Date.now();
    let hit = this.#cache.get(keyHash);
    if (!hit || hit.expiresAt < now) {
      const row = await findApiKeyByHash(this.#sql, keyHash);
      hit = { id: row?.id ?? null, platform: row?.platform === true, expiresAt: now + CACHE_TTL_MS };
      if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
      this.#cache.set(keyHash, hit);
    }
    if (hit.id === null) {
      const shown = key.length > 10 ? `${key.slice(0, 8)}…${key.slice(-4)}` : "(short key)";
      throw new HttpError(401, `Incorrect API key provided: ${shown}.`, { code: "invalid_api_key" });
    }
    return { apiKeyId: hit.id, keyHash, platform: hit.platform };
  }
}
