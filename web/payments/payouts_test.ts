// Payouts through the CoinPayPortal adapter against the fake server, on each database.
import assert from "node:assert/strict";
import {
  accountBalance,
  type Database,
  findPayout,
  listPayouts,
  operatorEarnings,
  PAYOUTS_IN_FLIGHT,
  PROCESSOR_CLEARING,
  reconcile,
  setOperatorPayoutAddress,
  setPayoutAddress,
  submitClaim,
} from "../../db/mod.ts";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { testOnEachDatabase } from "../../testing/databases.ts";
import { fundOperatorEarnings } from "../../testing/funding.ts";
import {
  createCountersign,
  createLogger,
  createOperatorClaim,
  verifyCountersign,
  verifyOperatorClaim,
} from "../../shared/mod.ts";
import { type FakeCoinPayPortal, startFakeCoinPayPortal } from "../../testing/fake_coinpayportal.ts";
import { CoinPayPortal } from "./coinpayportal.ts";
import {
  checkPayout,
  cryptoAmountFor,
  MAX_CHECK_DELAY_MS,
  nextCheckAt,
  type PayoutDeps,
  PayoutRequestError,
  requestOperatorPayout,
  requestPayout,
  resumeOpenPayouts,
  runAutomaticPayouts,
} from "./payouts.ts";
import { staticRates } from "./rates.ts";

const NODE = "ab".repeat(32);
const OTHER = "cd".repeat(32);
const THIRD = "ef".repeat(32);
const CENT = 10_000_000n;
const BTC = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
const ETH = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

async function withPayouts(
  db: Database,
  fn: (deps: PayoutDeps, fake: FakeCoinPayPortal) => Promise<void>,
  opts: Partial<PayoutDeps> = {},
) {
  const fake = await startFakeCoinPayPortal({ apiKey: "cpp_key", businessId: "biz_1", webhookSecret: "s" });
  try {
    await fn({
      sql: db.sql,
      processor: new CoinPayPortal({ baseUrl: fake.url, apiKey: "cpp_key", businessId: "biz_1" }),
      rates: staticRates(),
      minPayoutCents: 1000,
      autoPayoutCents: 0,
      log: createLogger({ level: "silent" }),
      ...opts,
    }, fake);
  } finally {
    await fake.close();
  }
}

async function assertBalanced(db: Database) {
  const [{ total }] = await db.sql<
    { total: bigint }[]
  >`select coalesce(sum(balance), 0)::int8 as total from accounts`;
  assert.equal(total, 0n, "balances sum to zero");
}

Deno.test("payouts - crypto amounts are exact decimal math, rounded down", () => {
  assert.equal(cryptoAmountFor(1_000_000_000n, "BTC", "50000"), "0.00002");
  assert.equal(cryptoAmountFor(25_000_000_000n, "BTC", "97000"), "0.00025773");
  assert.equal(cryptoAmountFor(10_000_000_000n, "XRP", "2.2"), "4.545454");
  assert.equal(cryptoAmountFor(10_000_000_000n, "USDC_SOL", "1"), "10");
  assert.equal(cryptoAmountFor(10_000_000_000n, "POL", "0.5"), "20");
  assert.equal(cryptoAmountFor(1n, "BTC", "97000"), "0");
  assert.equal(cryptoAmountFor(1n, "BTC", "0"), null);
  assert.equal(cryptoAmountFor(1n, "BTC", "1e5"), null);
});

testOnEachDatabase(
  "payouts - a request pays earnings rounded down to cents, once, and sums stay zero",
  async (db) => {
    await withPayouts(db, async (deps, fake) => {
      await fundOperatorEarnings(db.sql, NODE, 2500n * CENT + 123n);
      await setPayoutAddress(db.sql, { nodePubkey: NODE, coin: "BTC", address: BTC });
      const p = await requestPayout(deps, { nodePubkey: NODE, automatic: false });
      assert.equal(p.status, "completed");
      assert.equal(p.amount, 2500n * CENT);
      assert.equal(p.coin, "BTC");
      assert.equal(p.usdPerUnit, "97000");
      assert.equal(p.cryptoAmount, "0.00025773");
      assert.ok(p.txHash);
      assert.equal(fake.payouts.length, 1);
      assert.equal(fake.payouts[0].amountUsd, 25);
      assert.equal(fake.payouts[0].recipientWallet, BTC);
      assert.equal(fake.payouts[0].idempotencyKey, `payout:${p.id}`);
      assert.equal(fake.payouts[0].txHash, p.txHash);
      assert.equal(await accountBalance(db.sql, operatorEarnings(NODE)), 123n, "sub-cent remainder stays");
      assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 0n);
      await assertBalanced(db);
    });
  },
);

testOnEachDatabase(
  "payouts - below the minimum or without an address is refused and moves nothing",
  async (db) => {
    await withPayouts(db, async (deps, fake) => {
      await fundOperatorEarnings(db.sql, NODE, 999n * CENT + 9n);
      await assert.rejects(
        requestPayout(deps, { nodePubkey: NODE, automatic: false }),
        (e) =>
          e instanceof PayoutRequestError && e.code === "no_payout_address" &&
          /infernet payout set/.test(e.message),
      );
      await setPayoutAddress(db.sql, { nodePubkey: NODE, coin: "BTC", address: BTC });
      await assert.rejects(
        requestPayout(deps, { nodePubkey: NODE, coin: "ETH", automatic: false }),
        (e) => e instanceof PayoutRequestError && /no ETH payout address.*--coin ETH/.test(e.message),
      );
      await assert.rejects(
        requestPayout(deps, { nodePubkey: NODE, automatic: false }),
        (e) =>
          e instanceof PayoutRequestError && e.code === "below_minimum" &&
          e.message.includes("$9.990000009") && e.message.includes("$10"),
      );
      assert.equal(fake.payouts.length, 0);
      assert.deepEqual(await listPayouts(db.sql, NODE), []);
      assert.equal(await accountBalance(db.sql, operatorEarnings(NODE)), 999n * CENT + 9n);
    });
  },
);

testOnEachDatabase(
  "payouts - a processor refusal reverses cleanly: earnings restored, status failed",
  async (db) => {
    await withPayouts(db, async (deps, fake) => {
      await fundOperatorEarnings(db.sql, NODE, 1500n * CENT);
      await setPayoutAddress(db.sql, { nodePubkey: NODE, coin: "ETH", address: ETH });
      fake.failNextPayouts(1, 400);
      const p = await requestPayout(deps, { nodePubkey: NODE, automatic: false });
      assert.equal(p.status, "failed");
      assert.match(p.error ?? "", /400/);
      assert.equal(fake.payouts.length, 0);
      assert.equal(await accountBalance(db.sql, operatorEarnings(NODE)), 1500n * CENT);
      assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 0n);
      // The sweep has nothing to retry; the money can be requested again.
      assert.deepEqual(await resumeOpenPayouts(deps, { olderThanMs: 0 }), []);
      const again = await requestPayout(deps, { nodePubkey: NODE, automatic: false });
      assert.equal(again.status, "completed");
      await assertBalanced(db);
    });
  },
);

testOnEachDatabase(
  "payouts - a retryable failure stays open and the sweep pays it exactly once",
  async (db) => {
    await withPayouts(db, async (deps, fake) => {
      await fundOperatorEarnings(db.sql, NODE, 1200n * CENT);
      await setPayoutAddress(db.sql, { nodePubkey: NODE, coin: "BTC", address: BTC });
      fake.failNextPayouts(1, 503);
      const p = await requestPayout(deps, { nodePubkey: NODE, automatic: false });
      assert.equal(p.status, "requested");
      assert.equal(await accountBalance(db.sql, operatorEarnings(NODE)), 0n);
      assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 1200n * CENT);
      assert.deepEqual(await resumeOpenPayouts(deps), [], "too fresh for the default sweep");
      const [resumed] = await resumeOpenPayouts(deps, { olderThanMs: 0 });
      assert.equal(resumed.id, p.id);
      assert.equal(resumed.status, "completed");
      assert.deepEqual(await resumeOpenPayouts(deps, { olderThanMs: 0 }), []);
      assert.equal(fake.payouts.filter((f) => f.idempotencyKey === `payout:${p.id}`).length, 1);
      assert.equal(fake.payouts.length, 1);
      assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 0n);
      await assertBalanced(db);
    });
  },
);

testOnEachDatabase("payouts - a retried call the processor already took is not paid twice", async (db) => {
  await withPayouts(db, async (deps, fake) => {
    await fundOperatorEarnings(db.sql, NODE, 1200n * CENT);
    await setPayoutAddress(db.sql, { nodePubkey: NODE, coin: "BTC", address: BTC });
    const p = await requestPayout(deps, { nodePubkey: NODE, automatic: false });
    // As if the answer had been lost: mark it open again and let the sweep call once more.
    await db.sql`update payouts set status = 'sent' where id = ${p.id}`;
    const [resumed] = await resumeOpenPayouts(deps, { olderThanMs: 0 });
    assert.equal(resumed.status, "completed");
    assert.equal(fake.payouts.length, 1);
    assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 0n);
  });
});

testOnEachDatabase(
  "payouts - automatic payouts go to operators above the threshold with an address",
  async (db) => {
    await withPayouts(db, async (deps, fake) => {
      await fundOperatorEarnings(db.sql, NODE, 5000n * CENT + 5n);
      await fundOperatorEarnings(db.sql, OTHER, 4999n * CENT);
      await fundOperatorEarnings(db.sql, THIRD, 9000n * CENT);
      await setPayoutAddress(db.sql, { nodePubkey: NODE, coin: "BTC", address: BTC });
      await setPayoutAddress(db.sql, { nodePubkey: OTHER, coin: "ETH", address: ETH });
      assert.deepEqual(await runAutomaticPayouts(deps), [], "off when 0");
      const paid = await runAutomaticPayouts({ ...deps, autoPayoutCents: 5000 });
      assert.deepEqual(paid.map((p) => [p.nodePubkey, p.status, p.automatic, p.amount]), [
        [NODE, "completed", true, 5000n * CENT],
      ]);
      assert.equal(fake.payouts.length, 1);
      assert.equal(await accountBalance(db.sql, operatorEarnings(NODE)), 5n);
      assert.equal(await accountBalance(db.sql, operatorEarnings(THIRD)), 9000n * CENT, "no address: kept");
      assert.deepEqual(await runAutomaticPayouts({ ...deps, autoPayoutCents: 5000 }), []);
      await assertBalanced(db);
    });
  },
);

Deno.test("payouts - status checks back off from 30 s, doubling, to at most an hour", () => {
  const t0 = new Date("2026-01-01T00:00:00Z");
  const delays = [0, 1, 2, 3, 6, 7, 8, 50].map((n) => (nextCheckAt(n, t0).getTime() - t0.getTime()) / 1000);
  assert.deepEqual(delays, [30, 60, 120, 240, 1920, 3600, 3600, 3600]);
  assert.equal(MAX_CHECK_DELAY_MS, 3_600_000);
});

/** Makes every sent payout's next status check due now, as if its wait had passed. */
async function checksDue(db: Database) {
  await db.sql`update payouts set next_check_at = now() - interval '1 second' where status = 'sent'`;
}

async function reversals(db: Database, id: bigint): Promise<number> {
  const rows = await db
    .sql`select 1 from ledger_transactions where idempotency_key = ${`payout_reversed:${id}`}`;
  return rows.length;
}

testOnEachDatabase(
  "payouts - a payout in progress is polled, less often each time, until paid with its tx hash",
  async (db) => {
    await withPayouts(db, async (deps, fake) => {
      await fundOperatorEarnings(db.sql, NODE, 1500n * CENT);
      await setPayoutAddress(db.sql, { nodePubkey: NODE, coin: "BTC", address: BTC });
      fake.setPayoutStatus("processing");
      const before = Date.now();
      const p = await requestPayout(deps, { nodePubkey: NODE, automatic: false });
      assert.equal(p.status, "sent");
      assert.equal(p.processorPayoutId, fake.payouts[0].id);
      const firstWait = p.nextCheckAt!.getTime() - before;
      assert.ok(firstWait >= 29_000 && firstWait <= 31_000 + (Date.now() - before), `${firstWait} ms`);

      assert.deepEqual(await resumeOpenPayouts(deps, { olderThanMs: 0 }), [], "not due yet");
      assert.equal(fake.payoutReads.length, 0);
      const waits: number[] = [];
      for (let i = 1; i <= 3; i++) {
        await checksDue(db);
        const t = Date.now();
        const [still] = await resumeOpenPayouts(deps, { olderThanMs: 0 });
        assert.equal(still.status, "sent");
        assert.equal(still.statusChecks, i);
        waits.push(Math.round((still.nextCheckAt!.getTime() - t) / 1000));
      }
      assert.deepEqual(waits.map((w) => Math.round(w / 30) * 30), [60, 120, 240]);
      assert.equal(fake.payoutReads.length, 3);
      assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 1500n * CENT, "still in flight");

      const clearing = await accountBalance(db.sql, PROCESSOR_CLEARING);
      const paid = fake.finishPayout(p.processorPayoutId!, { status: "completed" });
      await checksDue(db);
      const [done] = await resumeOpenPayouts(deps, { olderThanMs: 0 });
      assert.equal(done.status, "completed");
      assert.equal(done.txHash, paid.txHash);
      assert.ok(done.txHash);
      assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 0n);
      assert.equal(await accountBalance(db.sql, PROCESSOR_CLEARING), clearing + 1500n * CENT);
      assert.equal(await accountBalance(db.sql, operatorEarnings(NODE)), 0n);
      assert.deepEqual(await resumeOpenPayouts(deps, { olderThanMs: 0 }), [], "final: not asked again");
      assert.equal(fake.payoutReads.length, 4);
      assert.equal(fake.payouts.length, 1, "sent once");
      assert.deepEqual(await reconcile(db.sql), []);
      await assertBalanced(db);
    });
  },
);

testOnEachDatabase(
  "payouts - a payout that fails after it was sent goes back to earnings exactly once, racing sweeps",
  async (db) => {
    await withPayouts(db, async (deps, fake) => {
      await fundOperatorEarnings(db.sql, NODE, 1500n * CENT + 3n);
      await setPayoutAddress(db.sql, { nodePubkey: NODE, coin: "ETH", address: ETH });
      fake.setPayoutStatus("processing");
      const p = await requestPayout(deps, { nodePubkey: NODE, automatic: false });
      assert.equal(p.status, "sent");
      assert.equal(await accountBalance(db.sql, operatorEarnings(NODE)), 3n);
      fake.finishPayout(p.processorPayoutId!, {
        status: "failed",
        error: "Insufficient balance in hot wallet",
      });
      await checksDue(db);

      // Two sweeps (two control-plane instances) and two direct checks of the same stale row at once.
      const stale = (await findPayout(db.sql, p.id))!;
      const results = await Promise.all([
        resumeOpenPayouts(deps, { olderThanMs: 0 }),
        resumeOpenPayouts(deps, { olderThanMs: 0 }),
        checkPayout(deps, stale),
        checkPayout(deps, stale),
      ]);
      for (const r of results.flat()) assert.equal(r.status, "failed");
      const failed = (await findPayout(db.sql, p.id))!;
      assert.equal(failed.status, "failed");
      assert.match(failed.error ?? "", /Insufficient balance in hot wallet/);
      assert.equal(await reversals(db, p.id), 1);
      assert.equal(await accountBalance(db.sql, operatorEarnings(NODE)), 1500n * CENT + 3n, "returned once");
      assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 0n);

      // Failing it again (a late sweep with the old row) changes nothing.
      await checkPayout(deps, stale);
      assert.equal(await reversals(db, p.id), 1);
      assert.equal(await accountBalance(db.sql, operatorEarnings(NODE)), 1500n * CENT + 3n);
      assert.deepEqual(await resumeOpenPayouts(deps, { olderThanMs: 0 }), []);
      assert.deepEqual(await reconcile(db.sql), []);
      await assertBalanced(db);
    });
  },
);

testOnEachDatabase(
  "payouts - an operator's claimed nodes are paid once, summed, to the operator's address",
  async (db) => {
    await withPayouts(db, async (deps, fake) => {
      const op = generateSecretKey();
      const nodes = [generateSecretKey(), generateSecretKey()];
      for (const n of nodes) {
        const claim = createOperatorClaim(n, getPublicKey(op));
        const c = verifyOperatorClaim(claim);
        assert.ok(c.ok);
        const cs = verifyCountersign(createCountersign(op, claim), c.value);
        assert.ok(cs.ok);
        await submitClaim(db.sql, c.value, cs.value);
        await setPayoutAddress(db.sql, { nodePubkey: getPublicKey(n), coin: "BTC", address: BTC });
      }
      await fundOperatorEarnings(db.sql, getPublicKey(nodes[0]), 3000n * CENT);
      await fundOperatorEarnings(db.sql, getPublicKey(nodes[1]), 2500n * CENT + 3n);
      const auto = { ...deps, autoPayoutCents: 5000 };
      assert.deepEqual(
        await runAutomaticPayouts(auto),
        [],
        "no operator address yet, and no node is paid alone",
      );
      await setOperatorPayoutAddress(db.sql, { operatorPubkey: getPublicKey(op), coin: "ETH", address: ETH });
      const paid = await runAutomaticPayouts(auto);
      assert.deepEqual(paid.map((p) => [p.nodePubkey, p.payee, p.status, p.amount]), [
        [getPublicKey(op), "operator", "completed", 5500n * CENT],
      ]);
      assert.equal(fake.payouts.length, 1);
      assert.equal(fake.payouts[0].recipientWallet, ETH);
      assert.deepEqual(await runAutomaticPayouts(auto), [], "nothing left to pay");
      // A manual request with a key already used pays nothing more.
      await fundOperatorEarnings(db.sql, getPublicKey(nodes[0]), 2000n * CENT);
      const first = await requestOperatorPayout(deps, {
        operatorPubkey: getPublicKey(op),
        automatic: false,
        requestKey: "form-1",
      });
      const again = await requestOperatorPayout(deps, {
        operatorPubkey: getPublicKey(op),
        automatic: false,
        requestKey: "form-1",
      });
      assert.equal(again.id, first.id);
      assert.equal(fake.payouts.length, 2);
      await assertBalanced(db);
    });
  },
);

testOnEachDatabase(
  "payouts - a status read that fails or finds nothing leaves the payout sent and asks later",
  async (db) => {
    await withPayouts(db, async (deps, fake) => {
      await fundOperatorEarnings(db.sql, NODE, 1200n * CENT);
      await setPayoutAddress(db.sql, { nodePubkey: NODE, coin: "BTC", address: BTC });
      fake.setPayoutStatus("processing");
      const p = await requestPayout(deps, { nodePubkey: NODE, automatic: false });
      fake.failNextPayoutReads(1, 503);
      await checksDue(db);
      const [afterOutage] = await resumeOpenPayouts(deps, { olderThanMs: 0 });
      assert.equal(afterOutage.status, "sent");
      assert.equal(afterOutage.statusChecks, 1);
      // A payout the processor says it does not know may still have been paid: never reversed on a guess.
      await db.sql`update payouts set processor_payout_id = 'no-such-payout' where id = ${p.id}`;
      await checksDue(db);
      const [unknown] = await resumeOpenPayouts(deps, { olderThanMs: 0 });
      assert.equal(unknown.status, "sent");
      assert.equal(unknown.statusChecks, 2);
      assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 1200n * CENT);
      assert.equal(await reversals(db, p.id), 0);

      await db.sql`update payouts set processor_payout_id = ${fake.payouts[0].id} where id = ${p.id}`;
      fake.finishPayout(fake.payouts[0].id, { status: "completed" });
      await checksDue(db);
      const [done] = await resumeOpenPayouts(deps, { olderThanMs: 0 });
      assert.equal(done.status, "completed");
      assert.equal(fake.payouts.length, 1);
      assert.deepEqual(await reconcile(db.sql), []);
    });
  },
);
