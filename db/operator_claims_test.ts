import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import type { Sql } from "./client.ts";
import { testOnEachDatabase } from "../testing/databases.ts";
import {
  createCountersign,
  createOperatorClaim,
  createRevocation,
  verifyCountersign,
  verifyOperatorClaim,
  verifyRevocation,
} from "../shared/nostr/operator_claim.ts";
import {
  ClaimError,
  countersignClaim,
  isOperator,
  listOperatorClaims,
  operatorOfNode,
  revokeClaim,
  submitClaim,
} from "./operator_claims.ts";

const now = () => Math.floor(Date.now() / 1000);

function verified<T>(r: { ok: true; value: T } | { ok: false; reason: string }): T {
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

/** A node's claim for an operator, countersigned, submitted: the node is the operator's. */
async function link(sql: Sql, node: Uint8Array, operator: Uint8Array, createdAt = now()) {
  const claim = createOperatorClaim(node, getPublicKey(operator), createdAt);
  const c = verified(verifyOperatorClaim(claim));
  const cs = createCountersign(operator, claim, createdAt);
  const row = await submitClaim(sql, c, verified(verifyCountersign(cs, c)));
  return { claim, cs, row };
}

async function claimCount(sql: Sql): Promise<number> {
  const [{ n }] = await sql<{ n: bigint }[]>`select count(*)::int8 as n from operator_claims`;
  return Number(n);
}

testOnEachDatabase("operator claims - a claim waits for the countersignature, then links", async (db) => {
  const node = generateSecretKey();
  const op = generateSecretKey();
  const claim = createOperatorClaim(node, getPublicKey(op));
  const c = verified(verifyOperatorClaim(claim));
  const pending = await submitClaim(db.sql, c);
  assert.equal(pending.status, "pending");
  assert.equal(
    await operatorOfNode(db.sql, getPublicKey(node)),
    null,
    "not linked before the countersignature",
  );
  assert.ok(await isOperator(db.sql, getPublicKey(op)), "a pending claim lets the operator sign in");
  const active = await countersignClaim(db.sql, verified(verifyCountersign(createCountersign(op, claim), c)));
  assert.equal(active.status, "active");
  assert.equal(await operatorOfNode(db.sql, getPublicKey(node)), getPublicKey(op));
  const listed = await listOperatorClaims(db.sql, getPublicKey(op), { status: "active" });
  assert.deepEqual(listed.map((r) => r.nodePubkey), [getPublicKey(node)]);
});

testOnEachDatabase("operator claims - a node claimed by one operator is refused to a second", async (db) => {
  const node = generateSecretKey();
  const [a, b] = [generateSecretKey(), generateSecretKey()];
  await link(db.sql, node, a, now() - 10);
  const before = await claimCount(db.sql);
  await assert.rejects(
    link(db.sql, node, b),
    (e) => e instanceof ClaimError && e.code === "claimed_by_other" && e.message.includes(getPublicKey(a)),
  );
  // Not even a pending claim for the second operator is kept.
  assert.equal(await claimCount(db.sql), before);
  assert.equal(await operatorOfNode(db.sql, getPublicKey(node)), getPublicKey(a));
  assert.equal(await isOperator(db.sql, getPublicKey(b)), false);
});

testOnEachDatabase(
  "operator claims - revoked by either side, the node can be claimed by another",
  async (db) => {
    for (const revoker of ["node", "operator"] as const) {
      const node = generateSecretKey();
      const [a, b] = [generateSecretKey(), generateSecretKey()];
      const first = await link(db.sql, node, a, now() - 20);
      const rev = revoker === "node"
        ? createRevocation(node, first.claim, now() - 10)
        : createRevocation(a, first.cs, now() - 10);
      const [revoked] = await revokeClaim(db.sql, verified(verifyRevocation(rev)));
      assert.equal(revoked.status, "revoked");
      assert.equal(await operatorOfNode(db.sql, getPublicKey(node)), null);
      // Revoking again changes nothing.
      assert.equal((await revokeClaim(db.sql, verified(verifyRevocation(rev))))[0].status, "revoked");
      await link(db.sql, node, b);
      assert.equal(await operatorOfNode(db.sql, getPublicKey(node)), getPublicKey(b), revoker);
    }
  },
);

testOnEachDatabase("operator claims - a stranger's deletion revokes nothing", async (db) => {
  const node = generateSecretKey();
  const op = generateSecretKey();
  const { claim } = await link(db.sql, node, op);
  // The operator may delete its countersignature, not the node's claim (NIP-09: authors only).
  const wrong = createRevocation(op, { ...claim, pubkey: getPublicKey(op) });
  await assert.rejects(
    revokeClaim(db.sql, verified(verifyRevocation(wrong))),
    (e) => e instanceof ClaimError && e.code === "not_found",
  );
  assert.equal(await operatorOfNode(db.sql, getPublicKey(node)), getPublicKey(op));
});

testOnEachDatabase(
  "operator claims - an old claim replayed after its revocation does not re-link",
  async (db) => {
    const node = generateSecretKey();
    const op = generateSecretKey();
    const t = now();
    const { claim, cs } = await link(db.sql, node, op, t - 30);
    await revokeClaim(db.sql, verified(verifyRevocation(createRevocation(node, claim, t - 20))));
    // The very same events again: seen before.
    const c = verified(verifyOperatorClaim(claim));
    await assert.rejects(
      submitClaim(db.sql, c, verified(verifyCountersign(cs, c))),
      (e) => e instanceof ClaimError && e.code === "replayed",
    );
    // A claim the node signed before its revocation but never sent: older than the revocation.
    const unsent = createOperatorClaim(node, getPublicKey(op), t - 25);
    const u = verified(verifyOperatorClaim(unsent));
    await assert.rejects(
      submitClaim(db.sql, u, verified(verifyCountersign(createCountersign(op, unsent, t - 25), u))),
      (e) => e instanceof ClaimError && e.code === "replayed",
    );
    assert.equal(await operatorOfNode(db.sql, getPublicKey(node)), null);
    // A new claim, signed after the revocation, links again.
    await link(db.sql, node, op, t);
    assert.equal(await operatorOfNode(db.sql, getPublicKey(node)), getPublicKey(op));
  },
);

testOnEachDatabase("operator claims - a superseded pending claim cannot be countersigned", async (db) => {
  const node = generateSecretKey();
  const [a, b] = [generateSecretKey(), generateSecretKey()];
  const first = createOperatorClaim(node, getPublicKey(a), now() - 10);
  const f = verified(verifyOperatorClaim(first));
  await submitClaim(db.sql, f);
  await submitClaim(db.sql, verified(verifyOperatorClaim(createOperatorClaim(node, getPublicKey(b)))));
  await assert.rejects(
    countersignClaim(db.sql, verified(verifyCountersign(createCountersign(a, first), f))),
    (e) => e instanceof ClaimError && e.code === "not_pending",
  );
  assert.equal(await operatorOfNode(db.sql, getPublicKey(node)), null);
});
