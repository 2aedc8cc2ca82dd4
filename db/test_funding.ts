// Test money: a consumer deposit settled into an operator's earnings, posted straight into the
// ledger the way a paid deposit and a settled job would post it.
import type { Sql } from "./client.ts";
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
