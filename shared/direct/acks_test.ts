import assert from "node:assert/strict";
import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { createUsageAck, type UsageAckContent, verifyUsageAck } from "./acks.ts";
import {
  createModelKeyAnnouncement,
  createModelKeyGrant,
  verifyModelKeyAnnouncement,
  verifyModelKeyGrant,
} from "./model_keys.ts";

const content = (): UsageAckContent => ({
  job_id: "job_1",
  node: getPublicKey(generateSecretKey()),
  prompt_tokens: 12,
  completion_tokens: 40,
  artifact_hash: "ab".repeat(32),
  created_at: 1_700_000_000,
});

Deno.test("usage ack - a signed ack verifies and names its signer", () => {
  const sk = generateSecretKey();
  const c = content();
  const checked = verifyUsageAck(createUsageAck(sk, c));
  assert.ok(checked.ok);
  assert.equal(checked.ack.event.pubkey, getPublicKey(sk));
  assert.deepEqual(checked.ack.content, c);
});

Deno.test("usage ack - tampered, non-canonical and wrong-kind events are refused", () => {
  const sk = generateSecretKey();
  const ack = createUsageAck(sk, content());
  const tampered = { ...ack, content: ack.content.replace('"prompt_tokens":12', '"prompt_tokens":2') };
  const forged = verifyUsageAck(tampered);
  assert.ok(!forged.ok && forged.code === "ack_forged");
  const loose = finalizeEvent({
    kind: 7479,
    created_at: 1_700_000_000,
    tags: [],
    content: JSON.stringify({ ...content(), extra: 1 }),
  }, sk);
  const r = verifyUsageAck(loose);
  assert.ok(!r.ok && r.code === "ack_invalid");
  const wrongKind = finalizeEvent({ kind: 1, created_at: 1, tags: [], content: ack.content }, sk);
  assert.ok(!verifyUsageAck(wrongKind).ok);
  assert.ok(!verifyUsageAck("not an event").ok);
});

Deno.test("model keys - an announcement and a grant verify; mismatched tags are refused", () => {
  const publisher = generateSecretKey();
  const modelPubkey = getPublicKey(generateSecretKey());
  const ann = createModelKeyAnnouncement(publisher, {
    model: "m",
    artifact_sha256: "cd".repeat(32),
    model_pubkey: modelPubkey,
    created_at: 1_700_000_000,
  });
  const a = verifyModelKeyAnnouncement(ann);
  assert.ok(a.ok);
  assert.equal(a.key.content.model_pubkey, modelPubkey);
  const badTags = finalizeEvent({ ...ann, tags: [["t", "infernet-model-key"]] }, publisher);
  assert.ok(!verifyModelKeyAnnouncement(badTags).ok);

  const node = getPublicKey(generateSecretKey());
  const grant = createModelKeyGrant(publisher, {
    node,
    announcement: ann.id,
    sealedSecret: "AgsealedbytesAA==",
    createdAt: 1_700_000_001,
  });
  const g = verifyModelKeyGrant(grant);
  assert.ok(g.ok);
  assert.equal(g.grant.node, node);
  assert.equal(g.grant.announcement, ann.id);
  assert.ok(!verifyModelKeyGrant({ ...grant, content: "other" }).ok);
});
