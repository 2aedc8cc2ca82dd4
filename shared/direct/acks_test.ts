import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { createUsageAck, type UsageAckContent, verifyUsageAck } from "./acks.ts";

const consumerKey = generateSecretKey();
const consumer = getPublicKey(consumerKey);
const content: UsageAckContent = {
  job_id: "job_abc",
  node: "b".repeat(64),
  prompt_tokens: 12,
  completion_tokens: 30,
  artifact_hash: "c".repeat(64),
  created_at: 1_800_000_000,
};

Deno.test("usage ack - a signed ack verifies and keeps its counts", () => {
  const check = verifyUsageAck(createUsageAck(consumerKey, content), { consumer, jobId: "job_abc" });
  assert.ok(check.ok);
  assert.deepEqual(check.ack.content, content);
});

Deno.test("usage ack - refuses an ack signed by another key", () => {
  const check = verifyUsageAck(createUsageAck(generateSecretKey(), content), { consumer, jobId: "job_abc" });
  assert.deepEqual(check.ok ? null : check.code, "ack_forged");
});

Deno.test("usage ack - refuses an ack about another job", () => {
  const check = verifyUsageAck(createUsageAck(consumerKey, content), { consumer, jobId: "job_other" });
  assert.deepEqual(check.ok ? null : check.code, "ack_foreign");
});

Deno.test("usage ack - refuses a tampered count and malformed content", () => {
  const ack = createUsageAck(consumerKey, content);
  const tampered = {
    ...ack,
    content: ack.content.replace('"completion_tokens":30', '"completion_tokens":3'),
  };
  const a = verifyUsageAck(tampered, { consumer, jobId: "job_abc" });
  assert.equal(a.ok ? null : a.code, "ack_forged");
  const bad = createUsageAck(consumerKey, { ...content, prompt_tokens: -1 });
  const b = verifyUsageAck(bad, { consumer, jobId: "job_abc" });
  assert.equal(b.ok ? null : b.code, "ack_invalid");
  const c = verifyUsageAck({ kind: 1 }, { consumer, jobId: "job_abc" });
  assert.equal(c.ok ? null : c.code, "ack_invalid");
});
