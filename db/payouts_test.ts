import assert from "node:assert/strict";
import type { Sql } from "./client.ts";
import { testOnEachDatabase } from "../testing/databases.ts";
import { fundOperatorEarnings } from "../testing/funding.ts";
import { accountBalance, operatorEarnings, PAYOUTS_IN_FLIGHT, PROCESSOR_CLEARING } from "./ledger.ts";
import {
  createPayout,
  failPayout,
  listPayouts,
  markPayoutCompleted,
  markPayoutSent,
  type NewPayout,
  openPayouts,
  operatorsDueAutomaticPayout,
  PayoutError,
  payoutsDueCheck,
  recordPayoutCheck,
} from "./payouts.ts";
import { reconcile } from "./reconcile.ts";
import { setPayoutAddress } from "./payout_addresses.ts";

const NODE = "ab".repeat(32);
const OTHER = "cd".repeat(32);
const CENT = 10_000_000n;
const BTC = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";

function payout(amount: bigint, extra: Partial<NewPayout> = {}): NewPayout {
  return {
    nodePubkey: NODE,
    coin: "BTC",
    address: BTC,
    amount,
    minAmount: 1000n * CENT,
    usdPerUnit: "50000",
    cryptoAmount: "0.0002",
    automatic: false,
    ...extra,
  };
}

async function assertBalanced(sql: Sql) {
  const [{ postings, balances }] = await sql<{ postings: bigint; balances: bigint }[]>`
    select (select coalesce(sum(amount), 0)::int8 from postings) as postings,
           (select coalesce(sum(balance), 0)::int8 from accounts) as balances`;
  assert.equal(postings, 0n, "postings sum to zero");
  assert.equal(balances, 0n, "balances sum to zero");
}

testOnEachDatabase(
  "payouts - a paid payout moves earnings to in flight to clearing, sums stay zero",
  async (db) => {
    await fundOperatorEarnings(db.sql, NODE, 2500n * CENT + 7n);
    const p = await createPayout(db.sql, payout(2500n * CENT));
    assert.equal(p.status, "requested");
    assert.equal(await accountBalance(db.sql, operatorEarnings(NODE)), 7n, "the remainder stays");
    assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 2500n * CENT);
    await assertBalanced(db.sql);

    const sent = await markPayoutSent(db.sql, p.id, { processorPayoutId: "po_1" });
    assert.equal(sent.status, "sent");
    assert.equal((await openPayouts(db.sql)).length, 1);

    const clearingBefore = await accountBalance(db.sql, PROCESSOR_CLEARING);
    const done = await markPayoutCompleted(db.sql, p.id, { txHash: "0xfeed" });
    assert.equal(done.status, "completed");
    assert.equal(done.txHash, "0xfeed");
    assert.equal(done.processorPayoutId, "po_1");
    assert.ok(done.finishedAt);
    assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 0n);
    assert.equal(await accountBalance(db.sql, PROCESSOR_CLEARING), clearingBefore + 2500n * CENT);
    // Completing again posts nothing; reversing a paid payout is refused.
    await markPayoutCompleted(db.sql, p.id, { txHash: "0xfeed" });
    await assert.rejects(failPayout(db.sql, p.id, "late"), (e) => e instanceof PayoutError);
    assert.equal(await accountBalance(db.sql, operatorEarnings(NODE)), 7n);
    assert.equal((await openPayouts(db.sql)).length, 0);
    const kinds = await db.sql<{ kind: string; idempotency_key: string }[]>`
    select kind, idempotency_key from ledger_transactions where payout_id = ${p.id} order by id`;
    assert.deepEqual(kinds.map((k) => k.idempotency_key), [`payout:${p.id}`, `payout_sent:${p.id}`]);
    await assertBalanced(db.sql);
  },
);

testOnEachDatabase(
  "payouts - below the minimum or above the balance is refused and writes nothing",
  async (db) => {
    await fundOperatorEarnings(db.sql, NODE, 1500n * CENT);
    await assert.rejects(
      createPayout(db.sql, payout(999n * CENT)),
      (e) => e instanceof PayoutError && e.code === "below_minimum",
    );
    await assert.rejects(
      createPayout(db.sql, payout(1600n * CENT)),
      (e) => e instanceof PayoutError && e.code === "insufficient_funds",
    );
    await assert.rejects(
      createPayout(db.sql, payout(1000n * CENT, { nodePubkey: OTHER })),
      (e) => e instanceof PayoutError && e.code === "insufficient_funds",
    );
    assert.equal((await db.sql`select 1 from payouts`).length, 0);
    assert.equal(await accountBalance(db.sql, operatorEarnings(NODE)), 1500n * CENT);
    assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 0n);
  },
);

testOnEachDatabase("payouts - a failed payout goes back to earnings, once", async (db) => {
  await fundOperatorEarnings(db.sql, NODE, 1200n * CENT);
  const p = await createPayout(db.sql, payout(1200n * CENT));
  assert.equal(await accountBalance(db.sql, operatorEarnings(NODE)), 0n);
  const failed = await failPayout(db.sql, p.id, "invalid address");
  assert.equal(failed.status, "failed");
  assert.equal(failed.error, "invalid address");
  await failPayout(db.sql, p.id, "again");
  assert.equal(await accountBalance(db.sql, operatorEarnings(NODE)), 1200n * CENT);
  assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 0n);
  await assert.rejects(markPayoutCompleted(db.sql, p.id, { txHash: "x" }), (e) => e instanceof PayoutError);
  const [only] = await listPayouts(db.sql, NODE);
  assert.equal(only.error, "invalid address");
  await assertBalanced(db.sql);
});

testOnEachDatabase(
  "payouts - operators due an automatic payout have the balance, an address, none open",
  async (db) => {
    await fundOperatorEarnings(db.sql, NODE, 3000n * CENT);
    await fundOperatorEarnings(db.sql, OTHER, 3000n * CENT);
    assert.deepEqual(await operatorsDueAutomaticPayout(db.sql, 2000n * CENT), []);
    await setPayoutAddress(db.sql, { nodePubkey: NODE, coin: "BTC", address: BTC });
    assert.deepEqual(await operatorsDueAutomaticPayout(db.sql, 2000n * CENT), [NODE]);
    assert.deepEqual(await operatorsDueAutomaticPayout(db.sql, 3001n * CENT), []);
    await createPayout(db.sql, payout(1000n * CENT));
    assert.deepEqual(await operatorsDueAutomaticPayout(db.sql, 1000n * CENT), [], "one is open");
  },
);

testOnEachDatabase(
  "payouts - a sent payout is due for a status check at its time, and a failure racing itself reverses once",
  async (db) => {
    await fundOperatorEarnings(db.sql, NODE, 1200n * CENT);
    const p = await createPayout(db.sql, payout(1200n * CENT));
    const t0 = new Date();
    const sent = await markPayoutSent(db.sql, p.id, {
      processorPayoutId: "po_9",
      nextCheckAt: new Date(t0.getTime() + 30_000),
    });
    assert.equal(sent.statusChecks, 0);
    assert.deepEqual(await payoutsDueCheck(db.sql, { now: t0 }), []);
    const [due] = await payoutsDueCheck(db.sql, { now: new Date(t0.getTime() + 31_000) });
    assert.equal(due.id, p.id);

    const later = new Date(t0.getTime() + 90_000);
    const checked = await recordPayoutCheck(db.sql, p.id, later);
    assert.equal(checked.statusChecks, 1);
    assert.equal(checked.nextCheckAt?.getTime(), later.getTime());
    assert.deepEqual(await payoutsDueCheck(db.sql, { now: new Date(t0.getTime() + 60_000) }), []);

    // Two sweeps see the failure at once: the money goes back once.
    const [a, b] = await Promise.all([
      failPayout(db.sql, p.id, "refused"),
      failPayout(db.sql, p.id, "refused"),
    ]);
    assert.equal(a.status, "failed");
    assert.equal(b.status, "failed");
    const reversals = await db.sql`
      select 1 from ledger_transactions where idempotency_key = ${`payout_reversed:${p.id}`}`;
    assert.equal(reversals.length, 1);
    assert.equal(await accountBalance(db.sql, operatorEarnings(NODE)), 1200n * CENT);
    // A late check of a final payout changes nothing, and it is never due again.
    const after = await recordPayoutCheck(db.sql, p.id, later);
    assert.equal(after.status, "failed");
    assert.equal(after.statusChecks, 1);
    assert.deepEqual(await payoutsDueCheck(db.sql, { now: new Date(t0.getTime() + 3_600_000) }), []);
    assert.deepEqual(await reconcile(db.sql), []);
    await assertBalanced(db.sql);
  },
);
