// IPIP-0028 model keys (migration 0015): announcements and grants, stored as the events that made
// them, found by model and by node. What the rows say is checked before they get here (web/).
import type { Sql } from "./client.ts";

/** A stored announcement. */
export interface ModelKeyRow {
  modelPubkey: string;
  model: string;
  artifactSha256: string;
  publisher: string;
  eventId: string;
  createdAt: number;
  event: string;
}

/** A stored grant. */
export interface ModelKeyGrantRow {
  modelPubkey: string;
  nodePubkey: string;
  eventId: string;
  createdAt: number;
  event: string;
}

/** Stores an announcement; false when its model key was announced before. */
export async function insertModelKey(sql: Sql, r: ModelKeyRow): Promise<boolean> {
  const rows = await sql`
    insert into model_keys (model_pubkey, model, artifact_sha256, publisher, event_id, created_at, event)
    values (${r.modelPubkey}, ${r.model}, ${r.artifactSha256}, ${r.publisher}, ${r.eventId}, ${r.createdAt},
      ${r.event})
    on conflict do nothing
    returning model_pubkey`;
  return rows.length === 1;
}

/** The announcement of a model key by its announcement's event id, or null. */
export async function modelKeyByEvent(sql: Sql, eventId: string): Promise<ModelKeyRow | null> {
  const rows = await sql<ModelKeyRow[]>`
    select model_pubkey as "modelPubkey", model, artifact_sha256 as "artifactSha256", publisher,
      event_id as "eventId", created_at::float8 as "createdAt", event
    from model_keys where event_id = ${eventId}`;
  return rows[0] ?? null;
}

/** A model's announced keys, oldest first. */
export function modelKeysOf(sql: Sql, model: string): Promise<ModelKeyRow[]> {
  return sql<ModelKeyRow[]>`
    select model_pubkey as "modelPubkey", model, artifact_sha256 as "artifactSha256", publisher,
      event_id as "eventId", created_at::float8 as "createdAt", event
    from model_keys where model = ${model} order by created_at, model_pubkey limit 100`;
}

/** Stores a grant, replacing an older one of the same key to the same node; false when not newer. */
export async function upsertModelKeyGrant(sql: Sql, r: ModelKeyGrantRow): Promise<boolean> {
  const rows = await sql`
    insert into model_key_grants (model_pubkey, node_pubkey, event_id, created_at, event)
    values (${r.modelPubkey}, ${r.nodePubkey}, ${r.eventId}, ${r.createdAt}, ${r.event})
    on conflict (model_pubkey, node_pubkey) do update
      set event_id = excluded.event_id, created_at = excluded.created_at, event = excluded.event
      where model_key_grants.created_at < excluded.created_at
    returning event_id`;
  return rows.length === 1;
}

/** The grants held by a node. */
export function grantsOfNode(sql: Sql, node: string): Promise<ModelKeyGrantRow[]> {
  return sql<ModelKeyGrantRow[]>`
    select model_pubkey as "modelPubkey", node_pubkey as "nodePubkey", event_id as "eventId",
      created_at::float8 as "createdAt", event
    from model_key_grants where node_pubkey = ${node} order by created_at limit 1000`;
}

/** For each of `nodes` holding a grant of one of `model`'s keys: that key (the newest announced). */
export async function grantedModelKeys(
  sql: Sql,
  model: string,
  nodes: string[],
): Promise<Map<string, string>> {
  if (nodes.length === 0) return new Map();
  const rows = await sql<{ node: string; key: string }[]>`
    select g.node_pubkey as node, k.model_pubkey as key
    from model_key_grants g join model_keys k on k.model_pubkey = g.model_pubkey
    where k.model = ${model} and g.node_pubkey in ${sql(nodes)}
    order by k.created_at`;
  return new Map(rows.map((r) => [r.node, r.key]));
}
