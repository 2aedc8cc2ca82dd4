import assert from "node:assert/strict";
import { testOnEachDatabase } from "../testing/databases.ts";
import type { Sql } from "./client.ts";
import { createApiKey } from "./api_keys.ts";
import { settleJobs, type Settlement } from "./charges.ts";
import { insertJobs, type JobRow } from "./jobs.ts";
import { testJobRow } from "../testing/job_row.ts";
import { applyPaymentEvent, insertPayment } from "./payments.ts";
import { createPayout, failPayout, markPayoutCompleted } from "./payouts.ts";
import { reconcile } from "./reconcile.ts";
import { reserveJob } from "../testing/reserve_job.ts";

const NODE = "ef".repeat(32);

function jobRow(id: string, apiKeyId: bigint, tokens: number): JobRow {
  return testJobRow(id, {
    apiKeyId,
    model: "m",
    nodePubkey: NODE,
    enginePromptTokens: tokens,
    engineCompletionTokens: tokens,
    countedPromptTokens: tokens,
    countedCompletionTokens: tokens,
    promptTokens: tokens,
    completionTokens: tokens,
    ttftMs: 1,
    latencyMs: 2,
  });
}

function settlement(jobId: string, tokens: number): Settlement {
  const cost = BigInt(Math.ceil((tokens * 200_000 + tokens * 600_000) / 1000));
  return {
    jobId,
    nodePubkey: NODE,
    promptTokens: tokens,
    completionTokens: tokens,
    promptPer1k: 200_000n,
    completionPer1k: 600_000n,
    feeBps: 1000,
    cost,
  };
}

/** A small but complete ledger: a credited deposit, settled and released jobs, two payouts. */
async function buildLedger(sql: Sql): Promise<{ apiKeyId: bigint }> {
  const { row } = await createApiKey(sql);
  await insertPayment(sql, {
    id: "pay_1",
    apiKeyId: row.id,
    amount: 50_000_000_000n,
    coin: "BTC",
    paymentAddress: "bc1q",
    cryptoAmount: "0.0005",
    qrCode: "",
    status: "pending",
    expiresAt: new Date(Date.now() + 3_600_000),
  });
  const ev = {
    type: "payment.confirmed",
    paymentId: "pay_1",
    status: "confirmed",
    txHash: "0xabc",
    amountPaid: 50_000_000_000n,
  };
  assert.equal(await applyPaymentEvent(sql, { eventId: "evt_1", ...ev }), "credited");
  assert.equal(await applyPaymentEvent(sql, { eventId: "evt_1", ...ev }), "duplicate_event");
  assert.equal(
    await applyPaymentEvent(sql, { eventId: "evt_2", ...ev, type: "payment.forwarded" }),
    "already_credited",
  );
  for (let i = 0; i < 20; i++) {
    assert.ok((await reserveJob(sql, { jobId: `job_${i}`, apiKeyId: row.id, amount: 2_000_000_000n })).ok);
  }
  await sql.begin(async (tx) => {
    await insertJobs(tx, Array.from({ length: 15 }, (_, i) => jobRow(`job_${i}`, row.id, 1000 + i)));
    await settleJobs(tx, Array.from({ length: 15 }, (_, i) => settlement(`job_${i}`, 1000 + i)));
    // Five jobs no node served: released whole.
    await settleJobs(
      tx,
      Array.from(
        { length: 5 },
        (_, i) => ({ ...settlement(`job_${15 + i}`, 0), nodePubkey: null, cost: 0n }),
      ),
    );
  });
  const base = {
    nodePubkey: NODE,
    coin: "BTC",
    address: "bc1q",
    minAmount: 1n,
    usdPerUnit: null,
    cryptoAmount: null,
    automatic: false,
  };
  const paid = await createPayout(sql, { ...base, amount: 5_000_000n });
  await markPayoutCompleted(sql, paid.id, { processorPayoutId: "po_1", txHash: "tx1" });
  const failed = await createPayout(sql, { ...base, amount: 3_000_000n });
  await failPayout(sql, failed.id, "refused");
  await createPayout(sql, { ...base, amount: 1_000_000n }); // still in flight
  return { apiKeyId: row.id };
}

testOnEachDatabase("reconcile - a ledger built through the real paths has no discrepancy", async (db) => {
  await buildLedger(db.sql);
  assert.deepEqual(await reconcile(db.sql), []);
});

testOnEachDatabase("reconcile - finds each kind of tampering and names it", async (db) => {
  const { apiKeyId } = await buildLedger(db.sql);
  const expectOnly = async (
    fragment: RegExp,
    tamper: () => Promise<unknown>,
    undo: () => Promise<unknown>,
  ) => {
    await tamper();
    const found = await reconcile(db.sql);
    assert.ok(found.length > 0, `no discrepancy for ${fragment}`);
    assert.ok(found.some((d) => fragment.test(d.check)), `${fragment} not in ${JSON.stringify(found)}`);
    await undo();
    assert.deepEqual(await reconcile(db.sql), []);
  };
  const owner = apiKeyId.toString();
  await expectOnly(
    /balance differs from the sum of its postings/,
    () =>
      db.sql`update accounts set balance = balance + 1 where kind = 'consumer_balance' and owner = ${owner}`,
    () =>
      db.sql`update accounts set balance = balance - 1 where kind = 'consumer_balance' and owner = ${owner}`,
  );
  await expectOnly(
    /settled charge is not the job's cost/,
    () => db.sql`update job_charges set prompt_tokens = prompt_tokens + 5 where job_id = 'job_3'`,
    () => db.sql`update job_charges set prompt_tokens = prompt_tokens - 5 where job_id = 'job_3'`,
  );
  await expectOnly(
    /completed job was never charged/,
    () =>
      db.sql`insert into jobs select 'job_free', api_key_id, kind, model, node_pubkey, stream, status,
      attempts, error_code, engine_prompt_tokens, engine_completion_tokens, counted_prompt_tokens,
      counted_completion_tokens, prompt_tokens, completion_tokens, ttft_ms, latency_ms, created_at, finished_at
      from jobs where id = 'job_1'`,
    () => db.sql`delete from jobs where id = 'job_free'`,
  );
  await expectOnly(
    /deposit's credit does not match/,
    () => db.sql`update payments set credited_at = null, paid_amount = null where id = 'pay_1'`,
    () => db.sql`update payments set credited_at = now(), paid_amount = 50000000000 where id = 'pay_1'`,
  );
  await expectOnly(
    /deposit credited a different amount than the payment says was paid/,
    () => db.sql`update payments set paid_amount = paid_amount + 1 where id = 'pay_1'`,
    () => db.sql`update payments set paid_amount = paid_amount - 1 where id = 'pay_1'`,
  );
  await expectOnly(
    /payout's status does not match/,
    () => db.sql`update payouts set status = 'completed' where status = 'failed'`,
    () => db.sql`update payouts set status = 'failed' where status = 'completed' and error is not null`,
  );
  await expectOnly(
    /hold has stayed open longer/,
    async () => {
      await reserveJob(db.sql, { jobId: "job_stuck", apiKeyId, amount: 5n });
      await db.sql`update job_charges set reserved_at = now() - interval '1 day' where job_id = 'job_stuck'`;
    },
    () => db.sql`update job_charges set reserved_at = now() where job_id = 'job_stuck'`,
  );
});
