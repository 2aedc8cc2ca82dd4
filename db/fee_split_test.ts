// Migration 0012's platform_fee_of / operator_share_of, the split settlement writes, must be
// shared/pricing's splitFee to the nano-USD on both databases.
import assert from "node:assert/strict";
import { testOnEachDatabase } from "../testing/databases.ts";
import { splitFee } from "../shared/mod.ts";

const BIGINT_MAX = 2n ** 63n - 1n;

/** Charges at the edges: zero, one, just below/at/above a rounding step, and the largest bigint. */
const CHARGES = [
  0n,
  1n,
  9n,
  10n,
  9_999n,
  10_000n,
  10_001n,
  19_999n,
  6_600n,
  123_456_789n,
  2n ** 31n,
  2n ** 53n + 1n,
  BIGINT_MAX / 10_000n,
  BIGINT_MAX / 10_000n + 1n, // charged × bps no longer fits a bigint: the old SQL overflowed here
  BIGINT_MAX - 1n,
  BIGINT_MAX,
];
const FEES_BPS = [0, 1, 999, 1000, 1001, 2500, 9999, 10_000];

testOnEachDatabase("fee split - the SQL split is splitFee at every edge case", async (db) => {
  const cases = CHARGES.flatMap((charged) => FEES_BPS.map((bps) => ({ charged, bps })));
  const rows = await db.sql<{ charged: bigint; bps: number; fee: bigint; share: bigint }[]>`
    select c.charged, c.bps, platform_fee_of(c.charged, c.bps) as fee,
      operator_share_of(c.charged, c.bps) as share
    from unnest(${cases.map((c) => c.charged.toString())}::bigint[], ${cases.map((c) => c.bps)}::int[])
      as c(charged, bps)`;
  assert.equal(rows.length, cases.length);
  for (const r of rows) {
    const want = splitFee(BigInt(r.charged), Number(r.bps));
    const where = `${r.charged} at ${r.bps} bps`;
    assert.equal(BigInt(r.fee), want.platformFee, `fee of ${where}`);
    assert.equal(BigInt(r.share), want.operatorShare, `share of ${where}`);
    assert.equal(BigInt(r.fee) + BigInt(r.share), BigInt(r.charged), `sum of ${where}`);
  }
});

testOnEachDatabase("fee split - random charges split in SQL exactly as splitFee does", async (db) => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  const cases = Array.from({ length: 2_000 }, () => ({
    charged: BigInt(rand()) * BigInt(rand()) % BIGINT_MAX,
    bps: rand() % 10_001,
  }));
  const rows = await db.sql<{ fee: bigint; share: bigint }[]>`
    select platform_fee_of(c.charged, c.bps) as fee, operator_share_of(c.charged, c.bps) as share
    from unnest(${cases.map((c) => c.charged.toString())}::bigint[], ${cases.map((c) => c.bps)}::int[])
      with ordinality as c(charged, bps, i)
    order by c.i`;
  rows.forEach((r, i) => {
    const want = splitFee(cases[i].charged, cases[i].bps);
    assert.deepEqual({ fee: BigInt(r.fee), share: BigInt(r.share) }, {
      fee: want.platformFee,
      share: want.operatorShare,
    }, `${cases[i].charged} at ${cases[i].bps} bps`);
  });
});

testOnEachDatabase(
  "fee split - a missing charge or fee gives no split rather than a wrong one",
  async (db) => {
    const [r] = await db.sql<{ a: bigint | null; b: bigint | null }[]>`
    select platform_fee_of(null, 1000) as a, operator_share_of(100, null) as b`;
    assert.deepEqual(r, { a: null, b: null });
  },
);
