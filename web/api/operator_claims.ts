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
  compileSchema,
  type JsonSchema,
  NOSTR_EVENT_SCHEMA,
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

const EVENT: JsonSchema = { ...NOSTR_EVENT_SCHEMA, errorMessage: "{param} must be a signed Nostr event" };

/** `POST /api/operator/claims`'s body (published in /openapi.json). */
export const CLAIM_REQUEST_SCHEMA: JsonSchema = {
  type: "object",
  title: "OperatorClaimRequest",
  errorMessage: "body must be a JSON object",
  required: ["claim"],
  properties: {
    claim: { ...EVENT, description: "The node's claim (kind 7471, docs/protocol.md §10)." },
    countersign: {
      anyOf: [EVENT, { type: "null" }],
      errorMessage: "{param} must be a signed Nostr event",
      description: "The operator's countersignature (kind 7472), when it is sent with the claim.",
    },
  },
};

/** `POST /api/operator/countersign`'s body. */
export const COUNTERSIGN_REQUEST_SCHEMA: JsonSchema = {
  type: "object",
  title: "OperatorCountersignRequest",
  errorMessage: "body must be a JSON object",
  required: ["countersign"],
  properties: { countersign: { ...EVENT, description: "The operator's countersignature (kind 7472)." } },
};

/** `POST /api/operator/revoke`'s body. */
export const REVOKE_REQUEST_SCHEMA: JsonSchema = {
  type: "object",
  title: "OperatorRevokeRequest",
  errorMessage: "body must be a JSON object",
  required: ["revocation"],
  properties: {
    revocation: { ...EVENT, description: "A NIP-09 deletion (kind 5) of the sender's own claim event." },
  },
};

const CHECKS = new Map([CLAIM_REQUEST_SCHEMA, COUNTERSIGN_REQUEST_SCHEMA, REVOKE_REQUEST_SCHEMA].map((s) => [
  s,
  compileSchema(s),
]));

function bodyObject(c: AppContext, schema: JsonSchema): Record<string, unknown> {
  const body = verifiedJson(c);
  const issue = CHECKS.get(schema)!(body);
  if (issue) throw new HttpError(400, issue.message, { code: "invalid_request", param: issue.param });
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
    const body = bodyObject(c, CLAIM_REQUEST_SCHEMA);
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
    const row = await countersign(
      cp,
      bodyObject(c, COUNTERSIGN_REQUEST_SCHEMA).countersign,
      c.get("nodePubkey"),
    );
    return c.json({ claim: claimJson(row) });
  });

  app.post("/api/operator/revoke", auth, async (c) => {
    const rev = checked(
      verifyRevocation(bodyObject(c, REVOKE_REQUEST_SCHEMA).revocation),
      "revocation",
      "revocation",
    );
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
