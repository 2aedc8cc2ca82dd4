// Test money: a funded API key (credited through the real deposit path), and an operator's
// earnings from one job settled through the real reserve and settle path.
import type { Sql } from "../db/client.ts";
import { createApiKey } from "../db/api_keys.ts";
import { applyPaymentEvent, insertPayment } from "../db/payments.ts";
import { settleJobs } from "../db/charges.ts";
import { testJobRow } from "./job_row.ts";
import { reserveJob } from "./reserve_job.ts";

let next = 0;

/**
 * Credits `amount` nano-USD to an operator's earnings as one job served by the node: a consumer
 * key funded with the job's cost deposits, holds and is charged it (10 % platform fee, so the
 * operator's share is exactly `amount`), with the job's row, as the control plane settles a job.
 */
export async function fundOperatorEarnings(sql: Sql, nodePubkey: string, amount: bigint): Promise<void> {
  if (amount <= 0n) throw new RangeError("earnings must be positive");
  // cost − ⌊cost × 1000 / 10000⌋ = amount: with amount = 9k + r (r < 9), cost = 10k + r.
  const cost = (amount / 9n) * 10n + (amount % 9n);
  const jobId = `job_test_${Date.now()}_${next++}`;
  const consumer = await createTestKey(sql, cost);
  const held = await reserveJob(sql, { jobId, apiKeyId: consumer.id, amount: cost });
  if (!held.ok) throw new Error(`the test job's hold was refused (${held.available} available)`);
  const tokens = { prompt: 1000, completion: 0 };
  const settlement = {
    jobId,
    nodePubkey,
    promptTokens: tokens.prompt,
    completionTokens: tokens.completion,
    promptPer1k: cost,
    completionPer1k: 0n,
    feeBps: 1000,
    cost,
    lease: null,
  };
  const row = testJobRow(jobId, {
    apiKeyId: consumer.id,
    nodePubkey,
    enginePromptTokens: tokens.prompt,
    engineCompletionTokens: tokens.completion,
    countedPromptTokens: tokens.prompt,
    countedCompletionTokens: tokens.completion,
    promptTokens: tokens.prompt,
    completionTokens: tokens.completion,
  });
  await settleJobs(sql, [settlement], [row]);
}

/**
 * Creates an API key with a starting balance, credited as a confirmed deposit through the same
 * ledger path as a real payment, so tests that are not about money can run jobs.
 */
export async function createTestKey(sql: Sql, fundNanoUsd: bigint): Promise<{ key: string; id: bigint }> {
  const { key, row } = await createApiKey(sql, { label: "test" });
  if (fundNanoUsd > 0n) {
    const id = `test-deposit-${row.id}`;
    await insertPayment(sql, {
      id,
      apiKeyId: row.id,
      amount: fundNanoUsd,
      coin: "USDC_SOL",
      paymentAddress: "test",
      cryptoAmount: "0",
      qrCode: "",
      status: "pending",
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    await applyPaymentEvent(sql, {
      eventId: `evt_${id}`,
      type: "payment.confirmed",
      paymentId: id,
      status: "confirmed",
      txHash: null,
      amountPaid: fundNanoUsd,
    });
  }
  return { key, id: row.id };
}
