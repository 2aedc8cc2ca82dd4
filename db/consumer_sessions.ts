// The account page's server-side sessions: a random token in the browser's cookie, its sha256 here,
// bound to one API key, live until it expires or is revoked. Every check reads the database, so a
// revocation holds on the next request, on every instance.
import { base64urlnopad } from "@scure/base";
import { hashApiKey } from "./api_keys.ts";
import type { Sql } from "./client.ts";

/** A session as the account page lists it (never its token). */
export interface ConsumerSessionRow {
  id: bigint;
  apiKeyId: bigint;
  userAgent: string;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
}

/** A live session with the key it signs in. */
export interface LiveConsumerSession extends ConsumerSessionRow {
  keyPrefix: string;
}

/** `last_seen_at` is written at most this often per session, so page views are reads. */
const LAST_SEEN_EVERY_S = 60;
/** Ended sessions (a revocation ends one at once) are kept this long, then deleted. */
const KEEP_ENDED_S = 86_400;
const USER_AGENT_MAX = 300;

/** The sha256 hex under which a session token is stored, as API keys are. */
export function hashSessionToken(token: string): string {
  return hashApiKey(token);
}

type Row = {
  id: bigint;
  api_key_id: bigint;
  user_agent: string;
  created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
};

function fromRow(r: Row): ConsumerSessionRow {
  return {
    id: r.id,
    apiKeyId: r.api_key_id,
    userAgent: r.user_agent,
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
    expiresAt: r.expires_at,
  };
}

/** Opens a session for a key, valid `ttlS` seconds; the returned `token` exists nowhere else afterwards. */
export async function createConsumerSession(
  sql: Sql,
  opts: { apiKeyId: bigint; ttlS: number; userAgent?: string },
): Promise<{ token: string; session: ConsumerSessionRow }> {
  const token = base64urlnopad.encode(crypto.getRandomValues(new Uint8Array(32)));
  const userAgent = (opts.userAgent ?? "").slice(0, USER_AGENT_MAX);
  // Sessions ended a day ago go as new ones come, so the table holds about a day of sign-ins.
  await sql`delete from consumer_sessions where expires_at < now() - ${KEEP_ENDED_S} * interval '1 second'`;
  const [row] = await sql<Row[]>`
    insert into consumer_sessions (token_hash, api_key_id, user_agent, expires_at)
    values (${hashSessionToken(token)}, ${opts.apiKeyId}, ${userAgent},
            now() + ${opts.ttlS} * interval '1 second')
    returning id, api_key_id, user_agent, created_at, last_seen_at, expires_at`;
  return { token, session: fromRow(row) };
}

/** The live session a token opens (not expired, not revoked, its key not revoked), or null; notes it seen. */
export async function findConsumerSession(sql: Sql, token: string): Promise<LiveConsumerSession | null> {
  const [row] = await sql<(Row & { key_prefix: string; stale: boolean })[]>`
    select s.id, s.api_key_id, s.user_agent, s.created_at, s.last_seen_at, s.expires_at, k.key_prefix,
           s.last_seen_at < now() - ${LAST_SEEN_EVERY_S} * interval '1 second' as stale
    from consumer_sessions s join api_keys k on k.id = s.api_key_id
    where s.token_hash = ${hashSessionToken(token)} and s.revoked_at is null and s.expires_at > now()
      and k.revoked_at is null`;
  if (!row) return null;
  if (row.stale) {
    const [seen] = await sql<{ last_seen_at: Date }[]>`
      update consumer_sessions set last_seen_at = now() where id = ${row.id} returning last_seen_at`;
    if (seen) row.last_seen_at = seen.last_seen_at;
  }
  return { ...fromRow(row), keyPrefix: row.key_prefix };
}

/** A key's live sessions, newest first. */
export async function listConsumerSessions(sql: Sql, apiKeyId: bigint): Promise<ConsumerSessionRow[]> {
  const rows = await sql<Row[]>`
    select id, api_key_id, user_agent, created_at, last_seen_at, expires_at from consumer_sessions
    where api_key_id = ${apiKeyId} and revoked_at is null and expires_at > now()
    order by created_at desc, id desc
    limit 100`;
  return rows.map(fromRow);
}

/** Revokes one of a key's sessions; false when the key has no such live session. */
export async function revokeConsumerSession(sql: Sql, apiKeyId: bigint, id: bigint): Promise<boolean> {
  const rows = await sql`
    update consumer_sessions set revoked_at = now(), expires_at = least(expires_at, now())
    where id = ${id} and api_key_id = ${apiKeyId} and revoked_at is null and expires_at > now()
    returning id`;
  return rows.length === 1;
}

/** Revokes every live session of a key; returns how many. */
export async function revokeConsumerSessions(sql: Sql, apiKeyId: bigint): Promise<number> {
  const rows = await sql`
    update consumer_sessions set revoked_at = now(), expires_at = least(expires_at, now())
    where api_key_id = ${apiKeyId} and revoked_at is null and expires_at > now()
    returning id`;
  return rows.length;
}
