import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey, verifyEvent } from "nostr-tools/pure";
import { npubEncode } from "nostr-tools/nip19";
import {
  createCountersign,
  createOperatorClaim,
  createRevocation,
  parseOperatorKey,
  verifyCountersign,
  verifyOperatorClaim,
  verifyRevocation,
} from "./operator_claim.ts";

const nodeKey = generateSecretKey();
const operatorKey = generateSecretKey();
const NODE = getPublicKey(nodeKey);
const OPERATOR = getPublicKey(operatorKey);

function wire<T>(event: T): unknown {
  return JSON.parse(JSON.stringify(event));
}

Deno.test("operator claim - a claim and its countersignature verify and name both keys", () => {
  const claim = createOperatorClaim(nodeKey, OPERATOR);
  const c = verifyOperatorClaim(wire(claim), { signer: NODE });
  assert.ok(c.ok);
  assert.equal(c.value.nodePubkey, NODE);
  assert.equal(c.value.operatorPubkey, OPERATOR);
  const cs = verifyCountersign(wire(createCountersign(operatorKey, claim)), c.value);
  assert.ok(cs.ok);
  assert.equal(cs.value.claimId, claim.id);
});

Deno.test("operator claim - a tampered claim, a wrong sender or a stale claim is refused", () => {
  const claim = createOperatorClaim(nodeKey, OPERATOR);
  const other = getPublicKey(generateSecretKey());
  const tampered = { ...(wire(claim) as object), tags: [["p", other], ["claim", "infernet-operator"]] };
  assert.deepEqual(verifyOperatorClaim(tampered), { ok: false, reason: "invalid claim id or signature" });
  assert.deepEqual(verifyOperatorClaim(wire(claim), { signer: other }), {
    ok: false,
    reason: "the claim must be signed by the node that sends it",
  });
  const old = createOperatorClaim(nodeKey, OPERATOR, Math.floor(Date.now() / 1000) - 7200);
  assert.equal(verifyOperatorClaim(wire(old)).ok, false);
  // One of the operator's own node keys may be the operator key: that node then claims itself.
  assert.equal(verifyOperatorClaim(wire(createOperatorClaim(nodeKey, NODE))).ok, true);
});

Deno.test("operator claim - a verified object's cached mark never vouches for a copy with another signature", () => {
  const claim = createOperatorClaim(nodeKey, OPERATOR);
  assert.ok(verifyEvent(claim)); // nostr-tools caches `true` on this object
  const forged = { ...claim, sig: "00".repeat(64) };
  assert.equal(verifyOperatorClaim(forged).ok, false);
});

Deno.test("operator claim - a countersignature by another key, or for another claim or node, is refused", () => {
  const claim = createOperatorClaim(nodeKey, OPERATOR);
  const c = verifyOperatorClaim(wire(claim));
  assert.ok(c.ok);
  const stranger = generateSecretKey();
  assert.equal(verifyCountersign(wire(createCountersign(stranger, claim)), c.value).ok, false);
  const otherClaim = createOperatorClaim(nodeKey, OPERATOR, claim.created_at + 1);
  assert.equal(verifyCountersign(wire(createCountersign(operatorKey, otherClaim)), c.value).ok, false);
  const cs = createCountersign(operatorKey, claim);
  const badSig = { ...(wire(cs) as object), sig: "11".repeat(64) };
  assert.equal(verifyCountersign(badSig, c.value).ok, false);
});

Deno.test("operator claim - a revocation is a NIP-09 deletion by the event's own author", () => {
  const claim = createOperatorClaim(nodeKey, OPERATOR);
  const r = verifyRevocation(wire(createRevocation(nodeKey, claim)));
  assert.ok(r.ok);
  assert.deepEqual(r.value.eventIds, [claim.id]);
  assert.equal(r.value.pubkey, NODE);
  assert.throws(() => createRevocation(operatorKey, claim), /author/);
});

Deno.test("operator claim - an operator key is read from npub or hex, anything else is null", () => {
  assert.equal(parseOperatorKey(npubEncode(OPERATOR)), OPERATOR);
  assert.equal(parseOperatorKey(OPERATOR.toUpperCase()), OPERATOR);
  assert.equal(parseOperatorKey("npub1nope"), null);
  assert.equal(parseOperatorKey("abc"), null);
});
