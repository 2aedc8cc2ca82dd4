// Test money: a funded API key (credited through the real deposit path), and a consumer deposit
// settled into an operator's earnings, posted straight into the ledger.
import type { Sql } from "./client.ts";
import { createApiKey } from "./api_keys.ts";
import { applyPaymentEvent, insertPayment } from "./payments.ts";
import { consumerBalance, operatorEarnings, PLATFORM_FEES, postEntry, PROCESSOR_CLEARING } from "./ledger.ts";

let next = 0;

/** Credits `amount` nano-USD to an operator's earnings (plus a 10 % fee), as one settled job. */
export async function fundOperatorEarnings(sql: Sql, nodePubkey: string, amount: bigint): Promise<void> {
  const n = `${Date.now()}_${next++}`;
  const fee = amount / 9n;
  const apiKeyId = 1n;
  await postEntry(sql, {
    idempotencyKey: `deposit:test_${n}`,
    kind: "deposit",
    paymentId: `test_${n}`,
    postings: [
      { account: PROCESSOR_CLEARING, amount: -(amount + fee) },
      { account: consumerBalance(apiKeyId), amount: amount + fee },
    ],
  });
  await postEntry(sql, {
    idempotencyKey: `settle:test_${n}`,
    kind: "settle",
    jobId: `job_test_${n}`,
    postings: [
      { account: consumerBalance(apiKeyId), amount: -(amount + fee) },
      { account: operatorEarnings(nodePubkey), amount },
      { account: PLATFORM_FEES, amount: fee },
    ],
  });
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
    });
  }
  return { key, id: row.id };
}
