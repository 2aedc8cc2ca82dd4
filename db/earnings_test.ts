import assert from "node:assert/strict";
import { testOnEachDatabase } from "../testing/databases.ts";
import { fundOperatorEarnings } from "../testing/funding.ts";
import { earningsSummary } from "./earnings.ts";
import { createPayout, markPayoutCompleted, type NewPayout } from "./payouts.ts";
import { reconcile } from "./reconcile.ts";

const NODE = "ab".repeat(32);
const OTHER = "cd".repeat(32);
const CENT = 10_000_000n;

function payout(amount: bigint, extra: Partial<NewPayout> = {}): NewPayout {
  return {
    nodePubkey: NODE,
    coin: "BTC",
    address: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    amount,
    minAmount: 1000n * CENT,
    usdPerUnit: "50000",
    cryptoAmount: "0.0002",
    automatic: false,
    ...extra,
  };
}

testOnEachDatabase(
  "earnings - summary: pending, in flight, paid, per day and per coin",
  async (db) => {
    await fundOperatorEarnings(db.sql, NODE, 1000n * CENT);
    await fundOperatorEarnings(db.sql, NODE, 700n * CENT);
    await fundOperatorEarnings(db.sql, OTHER, 5n * CENT);
    // An old settlement, outside the 30 days.
    await fundOperatorEarnings(db.sql, NODE, 300n * CENT);
    await db.sql`
    update ledger_transactions set created_at = now() - interval '40 days'
    where id = (select max(id) from ledger_transactions where kind = 'settle')`;
    await db.sql`
    update job_charges set settled_at = now() - interval '40 days'
    where job_id = (select job_id from ledger_transactions where id = (
      select max(id) from ledger_transactions where kind = 'settle'))`;
    const paid = await createPayout(db.sql, payout(1000n * CENT));
    await markPayoutCompleted(db.sql, paid.id, { txHash: "t1" });
    await createPayout(db.sql, payout(500n * CENT, { minAmount: 0n, coin: "ETH", cryptoAmount: "0.1" }));

    const s = await earningsSummary(db.sql, NODE);
    assert.equal(s.pending, 500n * CENT);
    assert.equal(s.inFlight, 500n * CENT);
    assert.equal(s.paid, 1000n * CENT);
    const today = new Date().toISOString().slice(0, 10);
    assert.deepEqual(s.days, [{ day: today, earned: 1700n * CENT, jobs: 2 }]);
    assert.deepEqual(s.coins, [
      { coin: "BTC", paid: 1000n * CENT, inFlight: 0n, paidCrypto: "0.0002" },
      { coin: "ETH", paid: 0n, inFlight: 500n * CENT, paidCrypto: "0" },
    ]);
    // The days come from the settled charges; the ledger agrees with them.
    assert.deepEqual(await reconcile(db.sql), []);
    const empty = await earningsSummary(db.sql, "ef".repeat(32));
    assert.deepEqual(empty, { pending: 0n, inFlight: 0n, paid: 0n, days: [], coins: [] });
  },
);
