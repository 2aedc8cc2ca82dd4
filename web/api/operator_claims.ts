// Operator claims over HTTP (docs/protocol.md §10), all NIP-98: a node (or the operator it names)
// sends the node's signed claim, with the countersignature when there is one; the operator lists
// the claims naming them and countersigns; either side revokes with a NIP-09 deletion of its own
// event. Every event is verified as received; a refused step answers 400/404/409 and writes nothing.
import type { Hono } from "hono";
import {
  ClaimError,
  countersignClaim,
  currentClaimOfNode,
  findClaim,
  listOperatorClaims,
  type OperatorClaimRow,
  revokeClaim,
  submitClaim,
} from "../../db/mod.ts";
import {
  type ClaimCheck,
  parseEvent,
  tagValue,
  verifyCountersign,
  verifyOperatorClaim,
  verifyRevocation,
} from "../../shared/mod.ts";
import type { AppContext, AppEnv } from "../app_env.ts";
import type { ControlPlane } from "../control_plane.ts";
import { HttpError } from "../http_error.ts";
import { nip98Auth, verifiedJson } from "./nodes/nip98_auth.ts";

/** A claim as the API shows it. */
export function claimJson(c: OperatorClaimRow) {
  return {
    claim_id: c.claimId,
    node_pubkey: c.nodePubkey,
    operator_pubkey: c.operatorPubkey,
    status: c.status,
    claimed_at: c.claimedAt,
    countersign_id: c.countersignId,
    revoked_at: c.revokedAt,
    claim: JSON.parse(c.claimEvent),
  };
}

function bodyObject(c: AppContext): Record<string, unknown> {
  const body = verifiedJson(c);
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, "body must be a JSON object", { code: "invalid_request" });
  }
  return body as Record<string, unknown>;
}

function checked<T>(r: ClaimCheck<T>, what: string, param: string): T {
  if (!r.ok) throw new HttpError(400, `${what} refused: ${r.reason}`, { code: "claim_invalid", param });
  return r.value;
}

/** A refused claim step as the HTTP error a client reads. */
export function claimHttpError(err: unknown): unknown {
  if (!(err instanceof ClaimError)) return err;
  switch (err.code) {
    case "not_found":
      return new HttpError(404, err.message, { code: "not_found", cause: err });
    case "replayed":
      return new HttpError(409, err.message, { code: "claim_replayed", cause: err });
    case "claimed_by_other":
    case "already_claimed":
      return new HttpError(409, err.message, { code: "node_already_claimed", cause: err });
    case "not_pending":
      return new HttpError(409, err.message, { code: "claim_not_pending", cause: err });
  }
}

/** Runs a claim step, turning a refusal into its HTTP error. */
export async function claimStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    throw claimHttpError(err);
  }
}

/** Verifies an operator's countersignature against the stored claim it names, and applies it. */
export async function countersign(cp: ControlPlane, raw: unknown, operatorPubkey: string) {
  // Only to find the claim it names; the event itself is verified against that claim below.
  const parsed = parseEvent(raw);
  const named = parsed ? tagValue(parsed, "e") : undefined;
  const claim = named ? await findClaim(cp.db.sql, named) : null;
  if (!claim || claim.operatorPubkey !== operatorPubkey) {
    throw new HttpError(404, "No claim naming you has that id (the countersignature's e tag).", {
      code: "not_found",
      param: "countersign",
    });
  }
  const cs = checked(
    verifyCountersign(raw, {
      id: claim.claimId,
      nodePubkey: claim.nodePubkey,
      operatorPubkey: claim.operatorPubkey,
      createdAt: claim.claimedAt,
    }),
    "countersignature",
    "countersign",
  );
  return await claimStep(() => countersignClaim(cp.db.sql, cs));
}

/** Mounts `/api/operator/*`. */
export function mountOperatorApi(app: Hono<AppEnv>, cp: ControlPlane): void {
  const auth = nip98Auth(cp);

  app.post("/api/operator/claims", auth, async (c) => {
    const body = bodyObject(c);
    const claim = checked(verifyOperatorClaim(body.claim), "claim", "claim");
    const signer = c.get("nodePubkey");
    if (signer !== claim.nodePubkey && signer !== claim.operatorPubkey) {
      throw new HttpError(403, "Only the node or the operator the claim names may send it.", {
        code: "nip98_invalid",
      });
    }
    const cs = body.countersign === undefined || body.countersign === null
      ? undefined
      : checked(verifyCountersign(body.countersign, claim), "countersignature", "countersign");
    const row = await claimStep(() => submitClaim(cp.db.sql, claim, cs));
    return c.json({ claim: claimJson(row) }, 201);
  });

  app.get("/api/operator/claims", auth, async (c) => {
    const rows = await listOperatorClaims(cp.db.sql, c.get("nodePubkey"));
    return c.json({ claims: rows.map(claimJson) });
  });

  app.post("/api/operator/countersign", auth, async (c) => {
    const row = await countersign(cp, bodyObject(c).countersign, c.get("nodePubkey"));
    return c.json({ claim: claimJson(row) });
  });

  app.post("/api/operator/revoke", auth, async (c) => {
    const rev = checked(verifyRevocation(bodyObject(c).revocation), "revocation", "revocation");
    if (rev.pubkey !== c.get("nodePubkey")) {
      throw new HttpError(403, "Send a revocation with the key that signed it.", { code: "nip98_invalid" });
    }
    const rows = await claimStep(() => revokeClaim(cp.db.sql, rev));
    return c.json({ claims: rows.map(claimJson) });
  });

  app.get("/api/operator/node", auth, async (c) => {
    const claim = await currentClaimOfNode(cp.db.sql, c.get("nodePubkey"));
    return c.json({ claim: claim ? claimJson(claim) : null });
  });
}
