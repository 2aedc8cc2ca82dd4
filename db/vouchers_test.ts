// Vouchers in the ledger on both databases: a batch holds its total once, a redemption is one
// settled job (charge capped at the voucher, fee split, the rest back), refusals write nothing,
// expiry gives the hold back, and the reconciler finds nothing after all of it.
import assert from "node:assert/strict";
import { testOnEachDatabase } from "../testing/databases.ts";
import { createTestKey } from "../testing/funding.ts";
import { jobCost, NANO_USD_PER_USD } from "../shared/mod.ts";
import {
  accountBalance,
  consumerBalance,
  consumerHolds,
  consumerVouchers,
  type Database,
  findJobCharge,
  issueVouchers,
  LedgerError,
  type NewVoucher,
  operatorEarnings,
  PLATFORM_FEES,
  reconcile,
  redeemVoucher,
  releaseExpiredVouchers,
  type VoucherRedemption,
} from "./mod.ts";

const NOW = 1_780_000_000;
const NODE = "a".repeat(64);
const CONSUMER = "c".repeat(64);

function vouchers(n: number, maxNano: bigint, expiresAtS = NOW + 3600): NewVoucher[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `vch_${crypto.randomUUID().replaceAll("-", "")}`,
    consumer: CONSUMER,
    maxNano,
    expiresAtS,
    event: `{"n":${i}}`,
  }));
}

function redemption(voucherId: string, tokens: [number, number], o: Partial<VoucherRedemption> = {}) {
  const prices = { promptPer1k: 1_000_000n, completionPer1k: 2_000_000n };
  return {
    voucherId,
    nodePubkey: NODE,
    jobId: `job_${voucherId}`,
    receiptId: "e".repeat(64),
    kind: "chat" as const,
    model: "m",
    promptTokens: tokens[0],
    completionTokens: tokens[1],
    ...prices,
    feeBps: 1000,
    cost: jobCost({ promptTokens: tokens[0], completionTokens: tokens[1], ...prices }),
    durationMs: 50,
    nowS: NOW,
    ...o,
  };
}

async function balances(db: Database, keyId: bigint) {
  return {
    balance: await accountBalance(db.sql, consumerBalance(keyId)),
    vouchers: await accountBalance(db.sql, consumerVouchers(keyId)),
    holds: await accountBalance(db.sql, consumerHolds(keyId)),
    operator: await accountBalance(db.sql, operatorEarnings(NODE)),
    fees: await accountBalance(db.sql, PLATFORM_FEES),
  };
}

testOnEachDatabase("vouchers - issue, redeem once, refuse, expire: exact and reconciled", async (db) => {
  const key = await createTestKey(db.sql, 10n * NANO_USD_PER_USD);
  const max = 1n * NANO_USD_PER_USD;
  const batch = vouchers(3, max);
  const issued = await issueVouchers(db.sql, { apiKeyId: key.id, name: "b1", vouchers: batch });
  assert.equal(issued.applied, true);
  assert.equal(issued.vouchers.length, 3);
  assert.deepEqual(await balances(db, key.id), {
    balance: 7n * NANO_USD_PER_USD,
    vouchers: 3n * max,
    holds: 0n,
    operator: 0n,
    fees: 0n,
  });
  // The same batch again moves nothing and answers the stored vouchers.
  const again = await issueVouchers(db.sql, { apiKeyId: key.id, name: "b1", vouchers: vouchers(3, max) });
  assert.equal(again.applied, false);
  assert.deepEqual(again.vouchers.map((v) => v.id).sort(), batch.map((v) => v.id).sort());
  assert.equal((await balances(db, key.id)).balance, 7n * NANO_USD_PER_USD);

  // Redeem the first: 1000 prompt + 500 completion tokens = 1_000_000 + 1_000_000 nano.
  const r1 = await redeemVoucher(db.sql, redemption(batch[0].id, [1000, 500]));
  assert.ok(r1.ok);
  assert.equal(r1.charge.charged, 2_000_000n);
  assert.equal(r1.charge.platformFee, 200_000n);
  assert.equal(r1.charge.operatorShare, 1_800_000n);
  assert.equal(r1.voucher.status, "redeemed");
  assert.equal(r1.voucher.redeemedNano, 2_000_000n);
  assert.deepEqual(await balances(db, key.id), {
    balance: 7n * NANO_USD_PER_USD + max - 2_000_000n,
    vouchers: 2n * max,
    holds: 0n,
    operator: 1_800_000n,
    fees: 200_000n,
  });
  // Twice: refused, nothing moved.
  const before = await balances(db, key.id);
  const twice = await redeemVoucher(db.sql, redemption(batch[0].id, [1, 1]));
  assert.equal(twice.ok ? "ok" : twice.code, "voucher_redeemed");
  assert.deepEqual(await balances(db, key.id), before);

  // Over the cap: the charge is the voucher's max, never more.
  const r2 = await redeemVoucher(db.sql, redemption(batch[1].id, [1_000_000, 1_000_000]));
  assert.ok(r2.ok);
  assert.equal(r2.charge.charged, max);
  assert.equal((await findJobCharge(db.sql, batch[1].id))?.charged, max);

  // Unknown and expired: refused, nothing moved.
  const mid = await balances(db, key.id);
  const unknown = await redeemVoucher(db.sql, redemption("vch_" + "0".repeat(32), [1, 1]));
  assert.equal(unknown.ok ? "ok" : unknown.code, "voucher_unknown");
  const late = await redeemVoucher(db.sql, redemption(batch[2].id, [1, 1], { nowS: NOW + 3601 }));
  assert.equal(late.ok ? "ok" : late.code, "voucher_expired");
  assert.deepEqual(await balances(db, key.id), mid);

  // The sweep releases the third voucher whole, once.
  assert.equal(await releaseExpiredVouchers(db.sql, NOW + 1000), 0);
  assert.equal(await releaseExpiredVouchers(db.sql, NOW + 3601), 1);
  assert.equal(await releaseExpiredVouchers(db.sql, NOW + 3601), 0);
  const end = await balances(db, key.id);
  assert.deepEqual(end, { ...mid, balance: mid.balance + max, vouchers: 0n });
  const expired = await redeemVoucher(db.sql, redemption(batch[2].id, [1, 1]));
  assert.equal(expired.ok ? "ok" : expired.code, "voucher_expired");

  // Every nano accounted for: what the key lost is what the operator and the platform got.
  assert.equal(10n * NANO_USD_PER_USD - end.balance, end.operator + end.fees);
  assert.deepEqual(await reconcile(db.sql), []);
});

testOnEachDatabase("vouchers - a batch the balance cannot cover writes nothing", async (db) => {
  const key = await createTestKey(db.sql, 5n * NANO_USD_PER_USD);
  await assert.rejects(
    issueVouchers(db.sql, { apiKeyId: key.id, name: "big", vouchers: vouchers(6, NANO_USD_PER_USD) }),
    (err) => err instanceof LedgerError && err.code === "insufficient_funds",
  );
  const [{ n }] = await db.sql<{ n: bigint }[]>`select count(*) as n from vouchers`;
  assert.equal(Number(n), 0);
  assert.equal(await accountBalance(db.sql, consumerBalance(key.id)), 5n * NANO_USD_PER_USD);
  assert.deepEqual(await reconcile(db.sql), []);
});

testOnEachDatabase("vouchers - the reconciler sees a voucher hold the ledger does not back", async (db) => {
  const key = await createTestKey(db.sql, 5n * NANO_USD_PER_USD);
  const [v] = vouchers(1, NANO_USD_PER_USD);
  await issueVouchers(db.sql, { apiKeyId: key.id, name: "b", vouchers: [v] });
  // A voucher marked expired without its release: two checks see it.
  await db.sql`update vouchers set status = 'expired', finished_at = now() where id = ${v.id}`;
  const found = (await reconcile(db.sql)).map((d) => d.check);
  assert.ok(found.some((c) => c.includes("voucher holds differ")), found.join("\n"));
  assert.ok(found.some((c) => c.includes("status does not match")), found.join("\n"));
});
