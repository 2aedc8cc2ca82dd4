import assert from "node:assert/strict";
import type { NodeReceiptContent, PlatformReceiptContent } from "./receipt.ts";
import { meteringDisagrees, reputationReceiptOf, usageDiverges } from "./reputation_input.ts";

const HASH_A = "a".repeat(64);
const HASH_B = "b".repeat(64);

function platform(over: Partial<PlatformReceiptContent> = {}): PlatformReceiptContent {
  return {
    receipt_id: "rcpt_x",
    task_id: "job_1",
    agent_did: `did:nostr:${"1".repeat(64)}`,
    buyer_did: "did:infernet:buyer:x",
    platform_did: `did:nostr:${"2".repeat(64)}`,
    category: "inference:chat",
    model: "m",
    amount: "0.000001",
    currency: "USD",
    outcome: "success",
    cancelled_by: null,
    error_code: null,
    artifact_hash: HASH_A,
    usage: {
      reported: { prompt_tokens: 100, completion_tokens: 40 },
      counted: { prompt_tokens: 101, completion_tokens: 41 },
      billed: { prompt_tokens: 101, completion_tokens: 41 },
    },
    ttft_ms: 120,
    duration_ms: 900,
    signed: true,
    node_receipt: "3".repeat(64),
    seq: 1,
    prev: null,
    created_at: 1_800_000_000,
    ...over,
  };
}

const node = (artifact: string | null) => ({ artifact_hash: artifact }) as NodeReceiptContent;

Deno.test("reputation input - usage diverges past 16 tokens plus a quarter of the larger count", () => {
  assert.equal(usageDiverges(100, 154), false);
  assert.equal(usageDiverges(100, 155), true);
  assert.equal(usageDiverges(0, 21), false);
  assert.equal(usageDiverges(0, 22), true);
  assert.equal(meteringDisagrees(null, { prompt_tokens: 1, completion_tokens: 1 }), false);
  assert.equal(
    meteringDisagrees({ prompt_tokens: 10, completion_tokens: 500 }, {
      prompt_tokens: 10,
      completion_tokens: 40,
    }),
    true,
  );
});

Deno.test("reputation input - reads the billed tokens and flags a different artifact", () => {
  const r = reputationReceiptOf(platform(), node(HASH_A));
  assert.deepEqual(r, {
    createdAt: 1_800_000_000,
    outcome: "success",
    cancelledBy: null,
    signed: true,
    meteringDisagrees: false,
    artifactMismatch: false,
    ttftMs: 120,
    durationMs: 900,
    completionTokens: 41,
  });
  assert.equal(reputationReceiptOf(platform(), node(HASH_B)).artifactMismatch, true);
  assert.equal(reputationReceiptOf(platform(), node(null)).artifactMismatch, true);
  assert.equal(
    reputationReceiptOf(platform({ signed: false, node_receipt: null }), null).artifactMismatch,
    false,
  );
  // A failed job's partial output or usage proves nothing: it is bad already.
  const usage = { ...platform().usage, reported: { prompt_tokens: 900, completion_tokens: 1 } };
  const failed = reputationReceiptOf(platform({ outcome: "failure", usage }), node(HASH_B));
  assert.deepEqual([failed.artifactMismatch, failed.meteringDisagrees], [false, false]);
});
