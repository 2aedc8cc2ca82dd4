import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey, type NostrEvent } from "nostr-tools/pure";
import { resignWith } from "../../testing/receipts.ts";
import { fastestSecp256k1 } from "../nostr/secp256k1.ts";
import { nostrDid } from "./receipt.ts";
import {
  createVerification,
  platformDidOf,
  VERIFICATION_KIND,
  type VerificationContent,
  verifyVerification,
} from "./verification.ts";

const platformKey = generateSecretKey();
const platformPub = getPublicKey(platformKey);
const node = getPublicKey(generateSecretKey());
const content: VerificationContent = {
  task_id: "job_canary_1",
  agent_did: nostrDid(node),
  receipt: "ab".repeat(32),
  check: "canary",
  result: "fail",
  detail: "token agreement 0.41 < 0.9",
  created_at: 1_800_000_000,
};
const event = createVerification(platformKey, content);
const wire = (e: NostrEvent): NostrEvent => JSON.parse(JSON.stringify(e));
const reasonOf = (c: { ok: true } | { ok: false; reason: string }) => c.ok ? "accepted" : c.reason;

Deno.test("verification - round-trips and names the receipt and node in its tags", () => {
  const v = verifyVerification(wire(event), platformPub);
  assert.ok(v.ok);
  assert.deepEqual(v.value.content, content);
  assert.equal(v.value.event.kind, VERIFICATION_KIND);
  assert.deepEqual(event.tags.filter((t) => t[0] === "e" || t[0] === "p"), [["e", content.receipt], [
    "p",
    node,
  ]]);
  assert.equal(platformDidOf(platformKey), nostrDid(platformPub));
});

Deno.test("verification - refuses a foreign signer, a bad signature and the wrong kind", () => {
  const foreign = createVerification(generateSecretKey(), content);
  assert.match(reasonOf(verifyVerification(wire(foreign), platformPub)), /another key/);
  const bad = wire(event);
  bad.content = bad.content.replace("fail", "pass");
  assert.match(reasonOf(verifyVerification(bad, platformPub)), /id or signature is wrong/);
  assert.match(reasonOf(verifyVerification({ ...wire(event), kind: 7476 })), /kind must be 7477/);
});

Deno.test("verification - refuses bad content, non-canonical content and mismatched tags", () => {
  const pass = resignWith(platformKey, event, (c) => (c.result = "maybe"));
  assert.match(reasonOf(verifyVerification(pass)), /not a verification/);
  const extra = resignWith(platformKey, event, (c) => (c.extra = 1));
  assert.match(reasonOf(verifyVerification(extra)), /not a verification/);
  const time = resignWith(platformKey, event, () => {}, { createdAt: 1 });
  assert.match(reasonOf(verifyVerification(time)), /not a verification/);
  const spaced = resignWith(platformKey, event, () => {}, {
    rawContent: JSON.stringify(content, null, 2),
  });
  assert.match(reasonOf(verifyVerification(spaced)), /not canonical/);
  const eTag = resignWith(platformKey, event, () => {}, {
    tags: event.tags.map((t) => t[0] === "e" ? ["e", "cd".repeat(32)] : t),
  });
  assert.match(reasonOf(verifyVerification(eTag)), /e or p tag differs/);
});

Deno.test("verification - signed by another backend: the same event id, a signature that checks", async () => {
  const backend = await fastestSecp256k1();
  let calls = 0;
  const fast = createVerification(platformKey, content, {
    finalize: (t, sk) => (calls++, backend.finalizeEvent(t, sk)),
  });
  assert.equal(calls, 1);
  assert.equal(fast.id, event.id);
  assert.equal(fast.content, event.content);
  const check = verifyVerification(JSON.parse(JSON.stringify(fast)), platformPub);
  assert.ok(check.ok, check.ok ? "" : check.reason);
});
