// API keys: random, shown once, stored as a sha256 hash.
import { base58 } from "@scure/base";
import { createHash } from "node:crypto";
import type { Sql } from "./client.ts";

/** Every Infernet API key starts with this, so leaked keys are easy to recognise. */
export const API_KEY_PREFIX = "inf_";

/** A stored key, without the secret. */
export interface ApiKeyRow {
  id: bigint;
  keyPrefix: string;
  label: string | null;
  createdAt: Date;
  /** The platform's canary key (migration 0014), not a consumer's. */
  platform?: boolean;
}

/**
 * The sha256 (hex, of the key's UTF-8) under which a key is stored and looked up. Every `/v1`
 * request hashes its key, so it uses node:crypto's native sha256 (docs/architecture.md has the
 * comparison with @noble/hashes).
 */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** Creates a key; the returned `key` exists nowhere else afterwards. */
export async function createApiKey(
  sql: Sql,
  opts: { label?: string | null } = {},
): Promise<{ key: string; row: ApiKeyRow }> {
  const key = API_KEY_PREFIX + base58.encode(crypto.getRandomValues(new Uint8Array(32)));
  const prefix = key.slice(0, API_KEY_PREFIX.length + 6);
  // The key and its two ledger accounts (spendable balance, holds for jobs in flight) together.
  const [row] = await sql<{ id: bigint; created_at: Date }[]>`
    with k as (
      insert into api_keys (key_hash, key_prefix, label)
      values (${hashApiKey(key)}, ${prefix}, ${opts.label ?? null})
      returning id, created_at
    ), a as (
      insert into accounts (kind, owner)
      select kind, k.id::text from k, (values ('consumer_balance'), ('consumer_holds')) v(kind)
    )
    select id, created_at from k`;
  return {
    key,
    row: { id: row.id, keyPrefix: prefix, label: opts.label ?? null, createdAt: row.created_at },
  };
}

/** Finds the live (not revoked) key with this hash. */
export async function findApiKeyByHash(sql: Sql, keyHash: string): Promise<ApiKeyRow | null> {
  const [row] = await sql<
    { id: bigint; key_prefix: string; label: string | null; created_at: Date; platform: boolean }[]
  >`
    select id, key_prefix, label, created_at, platform from api_keys
    where key_hash = ${keyHash} and revoked_at is null`;
  return row
    ? {
      id: row.id,
      keyPrefix: row.key_prefix,
      label: row.label,
      createdAt: row.created_at,
      platform: row.platform,
    }
    : null;
}

/** Revokes a live key; its hash (every instance's auth cache forgets it), or null when it was not live. */
export async function revokeApiKey(sql: Sql, id: bigint): Promise<string | null> {
  const [row] = await sql<{ key_hash: string }[]>`
    update api_keys set revoked_at = now()
    where id = ${id} and revoked_at is null and not platform
    returning key_hash`;
  return row?.key_hash ?? null;
}
