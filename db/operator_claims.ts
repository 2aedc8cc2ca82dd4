// Operator claims in the database: a node's signed claim (pending), the operator's countersignature
// (active: the node is theirs), and revocation by either side. Only verified events reach these
// functions. Each step is one transaction holding a per-node advisory lock, so two claims for one
// node are decided one after the other; a node's claims and revocations only move forward in time.
import type { Sql } from "./client.ts";
import type { Tx } from "./ledger.ts";
import type {
  VerifiedCountersign,
  VerifiedOperatorClaim,
  VerifiedRevocation,
} from "../shared/nostr/operator_claim.ts";

/** Where a claim is. */
export type ClaimStatus = "pending" | "active" | "revoked" | "superseded";

/** A claim as stored. `claimedAt` and `revokedAt` are the events' `created_at` (Unix seconds). */
export interface OperatorClaimRow {
  id: bigint;
  nodePubkey: string;
  operatorPubkey: string;
  claimId: string;
  claimedAt: number;
  claimEvent: string;
  countersignId: string | null;
  status: ClaimStatus;
  revokedAt: number | null;
  updatedAt: Date;
}

/** Stable codes of refused claim steps. */
export type ClaimErrorCode =
  | "replayed"
  | "claimed_by_other"
  | "already_claimed"
  | "not_found"
  | "not_pending";

/** A claim step that was refused; nothing of it was written. */
export class ClaimError extends Error {
  override name = "ClaimError";
  readonly code: ClaimErrorCode;
  constructor(code: ClaimErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

interface ClaimDbRow {
  id: bigint;
  node_pubkey: string;
  operator_pubkey: string;
  claim_id: string;
  claimed_at: bigint;
  claim_event: string;
  countersign_id: string | null;
  status: ClaimStatus;
  revoked_at_s: bigint | null;
  updated_at: Date;
}

function toClaim(r: ClaimDbRow): OperatorClaimRow {
  return {
    id: r.id,
    nodePubkey: r.node_pubkey,
    operatorPubkey: r.operator_pubkey,
    claimId: r.claim_id,
    claimedAt: Number(r.claimed_at),
    claimEvent: r.claim_event,
    countersignId: r.countersign_id,
    status: r.status,
    revokedAt: r.revoked_at_s === null ? null : Number(r.revoked_at_s),
    updatedAt: r.updated_at,
  };
}

async function lockNode(tx: Tx, nodePubkey: string): Promise<void> {
  await tx`select pg_advisory_xact_lock(hashtext(${"operator_claim:" + nodePubkey}))`;
}

async function activeClaim(tx: Tx, nodePubkey: string): Promise<ClaimDbRow | undefined> {
  const [row] = await tx<ClaimDbRow[]>`
    select * from operator_claims where node_pubkey = ${nodePubkey} and status = 'active'`;
  return row;
}

function refuseOther(active: ClaimDbRow | undefined, operatorPubkey: string): void {
  if (!active) return;
  if (active.operator_pubkey === operatorPubkey) {
    throw new ClaimError("already_claimed", "this node is already claimed by this operator");
  }
  throw new ClaimError(
    "claimed_by_other",
    `this node is claimed by another operator (${active.operator_pubkey}); that claim must be revoked first`,
  );
}

async function activate(tx: Tx, claim: ClaimDbRow, cs: VerifiedCountersign): Promise<ClaimDbRow> {
  refuseOther(await activeClaim(tx, claim.node_pubkey), claim.operator_pubkey);
  const [row] = await tx<ClaimDbRow[]>`
    update operator_claims set status = 'active', countersign_id = ${cs.id}, countersign_event = ${cs.json},
      updated_at = now()
    where id = ${claim.id} returning *`;
  return row;
}

/**
 * Records a node's claim (pending, replacing the node's older pending claim) and, with the
 * operator's countersignature, makes it active. Refused (ClaimError, nothing written) when the
 * claim was seen before or is not newer than the node's latest claim or revocation (`replayed`),
 * or when the node is already claimed (`claimed_by_other`, `already_claimed`).
 */
export function submitClaim(
  sql: Sql,
  claim: VerifiedOperatorClaim,
  countersign?: VerifiedCountersign,
): Promise<OperatorClaimRow> {
  if (countersign && countersign.claimId !== claim.id) {
    return Promise.reject(new ClaimError("not_found", "the countersignature names another claim"));
  }
  return sql.begin(async (tx) => {
    await lockNode(tx, claim.nodePubkey);
    const [seen] = await tx`select 1 from operator_claims where claim_id = ${claim.id}`;
    if (seen) throw new ClaimError("replayed", "this claim was already submitted");
    const [{ latest }] = await tx<{ latest: bigint | null }[]>`
      select max(greatest(claimed_at, coalesce(revoked_at_s, 0)))::int8 as latest
      from operator_claims where node_pubkey = ${claim.nodePubkey}`;
    if (latest !== null && BigInt(claim.createdAt) <= latest) {
      throw new ClaimError(
        "replayed",
        `this claim (created_at ${claim.createdAt}) is not newer than the node's latest claim or revocation (${latest}); sign a new one`,
      );
    }
    refuseOther(await activeClaim(tx, claim.nodePubkey), claim.operatorPubkey);
    await tx`
      update operator_claims set status = 'superseded', updated_at = now()
      where node_pubkey = ${claim.nodePubkey} and status = 'pending'`;
    const [row] = await tx<ClaimDbRow[]>`
      insert into operator_claims (node_pubkey, operator_pubkey, claim_id, claimed_at, claim_event)
      values (${claim.nodePubkey}, ${claim.operatorPubkey}, ${claim.id}, ${claim.createdAt}, ${claim.json})
      returning *`;
    return toClaim(countersign ? await activate(tx, row, countersign) : row);
  });
}

/** One claim by its event id. */
export async function findClaim(sql: Sql, claimId: string): Promise<OperatorClaimRow | null> {
  const [row] = await sql<ClaimDbRow[]>`select * from operator_claims where claim_id = ${claimId}`;
  return row ? toClaim(row) : null;
}

/**
 * Makes a pending claim active with the operator's countersignature (verified against that
 * claim). Refused when the claim is not pending (`not_pending`: revoked, superseded or already
 * active) or the node is claimed by someone (`claimed_by_other`).
 */
export function countersignClaim(sql: Sql, cs: VerifiedCountersign): Promise<OperatorClaimRow> {
  return sql.begin(async (tx) => {
    const [found] = await tx<ClaimDbRow[]>`select * from operator_claims where claim_id = ${cs.claimId}`;
    if (!found) throw new ClaimError("not_found", "no claim with that id");
    await lockNode(tx, found.node_pubkey);
    const [claim] = await tx<ClaimDbRow[]>`select * from operator_claims where id = ${found.id}`;
    if (claim.operator_pubkey !== cs.operatorPubkey) {
      throw new ClaimError("not_found", "no claim with that id");
    }
    if (claim.status === "active") {
      throw new ClaimError("already_claimed", "this claim is already countersigned");
    }
    if (claim.status !== "pending") {
      throw new ClaimError("not_pending", `this claim was ${claim.status}; the node must sign a new one`);
    }
    return toClaim(await activate(tx, claim, cs));
  });
}

/**
 * Ends the claims a revocation names: the node deleting its claim or the operator deleting its
 * countersignature (NIP-09: only an event's author deletes it). Revoking a revoked claim changes
 * nothing; a revocation older than the claim, or naming no claim of its signer, is refused.
 */
export function revokeClaim(sql: Sql, rev: VerifiedRevocation): Promise<OperatorClaimRow[]> {
  return sql.begin(async (tx) => {
    const targets = await tx<ClaimDbRow[]>`
      select * from operator_claims
      where (claim_id = any(${rev.eventIds}::text[]) and node_pubkey = ${rev.pubkey})
         or (countersign_id = any(${rev.eventIds}::text[]) and operator_pubkey = ${rev.pubkey})
      order by node_pubkey`;
    if (targets.length === 0) {
      throw new ClaimError("not_found", "the revocation names no claim or countersignature of its signer");
    }
    const out: OperatorClaimRow[] = [];
    for (const t of targets) {
      await lockNode(tx, t.node_pubkey);
      const [claim] = await tx<ClaimDbRow[]>`select * from operator_claims where id = ${t.id}`;
      if (claim.status === "revoked" || claim.status === "superseded") {
        out.push(toClaim(claim));
        continue;
      }
      if (BigInt(rev.createdAt) < claim.claimed_at) {
        throw new ClaimError("replayed", "the revocation is older than the claim it names");
      }
      const [row] = await tx<ClaimDbRow[]>`
        update operator_claims set status = 'revoked', revoked_at_s = ${rev.createdAt},
          revoke_event = ${rev.json}, updated_at = now()
        where id = ${claim.id} returning *`;
      out.push(toClaim(row));
    }
    return out;
  });
}

/** An operator's claims that are active or waiting for the countersignature, newest first. */
export async function listOperatorClaims(
  sql: Sql | Tx,
  operatorPubkey: string,
  opts: { status?: "active" | "pending" } = {},
): Promise<OperatorClaimRow[]> {
  const statuses = opts.status ? [opts.status] : ["active", "pending"];
  const rows = await sql<ClaimDbRow[]>`
    select * from operator_claims
    where operator_pubkey = ${operatorPubkey} and status = any(${statuses}::text[])
    order by claimed_at desc, id desc`;
  return rows.map(toClaim);
}

/** The operator that has claimed a node, or null. */
export async function operatorOfNode(sql: Sql | Tx, nodePubkey: string): Promise<string | null> {
  const [row] = await sql<{ operator_pubkey: string }[]>`
    select operator_pubkey from operator_claims where node_pubkey = ${nodePubkey} and status = 'active'`;
  return row?.operator_pubkey ?? null;
}

/** Whether a key is an operator here: some node's claim (pending or active) names it. */
export async function isOperator(sql: Sql, pubkey: string): Promise<boolean> {
  const [row] = await sql`
    select 1 from operator_claims where operator_pubkey = ${pubkey} and status in ('active', 'pending') limit 1`;
  return row !== undefined;
}

/** A node's newest claim that is active or waiting for its countersignature, or null. */
export async function currentClaimOfNode(sql: Sql, nodePubkey: string): Promise<OperatorClaimRow | null> {
  const [row] = await sql<ClaimDbRow[]>`
    select * from operator_claims where node_pubkey = ${nodePubkey} and status in ('active', 'pending')
    order by claimed_at desc limit 1`;
  return row ? toClaim(row) : null;
}
