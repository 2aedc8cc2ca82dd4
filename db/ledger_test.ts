import assert from "node:assert/strict";
import { testOnEachDatabase } from "../testing/databases.ts";
import {
  accountBalance,
  consumerBalance,
  LedgerError,
  operatorEarnings,
  postEntry,
  PROCESSOR_CLEARING,
} from "./ledger.ts";

const NODE = "ab".repeat(32);

testOnEachDatabase("ledger - a movement posts once per idempotency key and sums to zero", async (db) => {
  const entry = {
    idempotencyKey: "deposit:pay_1",
    kind: "deposit" as const,
    paymentId: "pay_1",
    postings: [
      { account: PROCESSOR_CLEARING, amount: -5_000n },
      { account: consumerBalance(7n), amount: 5_000n },
    ],
  };
  const first = await postEntry(db.sql, entry);
  const again = await postEntry(db.sql, entry);
  assert.equal(first.applied, true);
  assert.equal(again.applied, false);
  assert.equal(again.transactionId, first.transactionId);
  assert.equal(await accountBalance(db.sql, consumerBalance(7n)), 5_000n);
  assert.equal(await accountBalance(db.sql, PROCESSOR_CLEARING), -5_000n);
  const [{ n, total }] = await db.sql<{ n: bigint; total: bigint }[]>`
    select count(*) as n, sum(amount) as total from postings`;
  assert.equal(n, 2n);
  assert.equal(BigInt(total), 0n);
});

testOnEachDatabase("ledger - unbalanced postings are refused and write nothing", async (db) => {
  await assert.rejects(
    postEntry(db.sql, {
      idempotencyKey: "bad",
      kind: "deposit",
      postings: [{ account: PROCESSOR_CLEARING, amount: -5n }, { account: consumerBalance(1n), amount: 4n }],
    }),
    (err) => err instanceof LedgerError && err.code === "unbalanced",
  );
  const rows = await db.sql`select 1 from ledger_transactions`;
  assert.equal(rows.length, 0);
});

testOnEachDatabase("ledger - no account but the processor's may go below zero", async (db) => {
  await assert.rejects(
    postEntry(db.sql, {
      idempotencyKey: "overdraw",
      kind: "payout",
      postings: [{ account: operatorEarnings(NODE), amount: -1n }, {
        account: consumerBalance(1n),
        amount: 1n,
      }],
    }),
    (err) => err instanceof LedgerError && err.code === "insufficient_funds",
  );
  assert.equal((await db.sql`select 1 from ledger_transactions`).length, 0);
  assert.equal(await accountBalance(db.sql, consumerBalance(1n)), 0n);
});
