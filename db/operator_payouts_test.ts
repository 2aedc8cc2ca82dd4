import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import type { Sql } from "./client.ts";
import { testOnEachDatabase } from "../testing/databases.ts";
import { fundOperatorEarnings } from "../testing/funding.ts";
import {
  createCountersign,
  createOperatorClaim,
  verifyCountersign,
  verifyOperatorClaim,
} from "../shared/mod.ts";
import { submitClaim } from "./operator_claims.ts";
import { accountBalance, operatorEarnings, PAYOUTS_IN_FLIGHT } from "./ledger.ts";
import { reconcile } from "./reconcile.ts";
import {
  createPayout,
  failPayout,
  listPayouts,
  operatorsDueAutomaticPayout,
  PayoutError,
} from "./payouts.ts";
import { earningsSummary } from "./earnings.ts";
import { setPayoutAddress } from "./payout_addresses.ts";
import {
  createOperatorPayout,
  type NewOperatorPayout,
  operatorEarningsSummary,
  operatorsDueAutomaticOperatorPayout,
  payoutSources,
  setOperatorPayoutAddress,
} from "./operator_payouts.ts";

const CENT = 10_000_000n;
const BTC = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";

async function claimNode(sql: Sql, node: Uint8Array, operator: Uint8Array): Promise<void> {
  const claim = createOperatorClaim(node, getPublicKey(operator));
  const c = verifyOperatorClaim(claim);
  if (!c.ok) throw new Error(c.reason);
  const cs = verifyCountersign(createCountersign(operator, claim), c.value);
  if (!cs.ok) throw new Error(cs.reason);
  await submitClaim(sql, c.value, cs.value);
}

/** An operator with two claimed nodes, earning 1500.00…7 and 2000 USD-cents-worth. */
async function twoNodes(sql: Sql) {
  const op = generateSecretKey();
  const nodes = [generateSecretKey(), generateSecretKey()];
  for (const n of nodes) await claimNode(sql, n, op);
  const [a, b] = nodes.map((n) => getPublicKey(n));
  await fundOperatorEarnings(sql, a, 1500n * CENT + 7n);
  await fundOperatorEarnings(sql, b, 2000n * CENT);
  return { operator: getPublicKey(op), a, b };
}

function request(operator: string, amount: bigint, requestKey: string | null): NewOperatorPayout {
  return {
    operatorPubkey: operator,
    coin: "BTC",
    address: BTC,
    amount,
    minAmount: 1000n * CENT,
    usdPerUnit: null,
    cryptoAmount: null,
    automatic: false,
    requestKey,
  };
}

testOnEachDatabase(
  "operator payouts - sums two nodes' earnings and pays exactly the sum, once",
  async (db) => {
    const { operator, a, b } = await twoNodes(db.sql);
    const summary = await operatorEarningsSummary(db.sql, operator);
    assert.equal(summary.pending, 3500n * CENT + 7n);
    assert.deepEqual(
      summary.nodes.map((n) => [n.nodePubkey, n.pending, n.earned, n.jobs]).sort(),
      [[a, 1500n * CENT + 7n, 1500n * CENT + 7n, 1], [b, 2000n * CENT, 2000n * CENT, 1]].sort(),
    );
    assert.equal(summary.days.reduce((s, d) => s + d.earned, 0n), 3500n * CENT + 7n);

    const first = await createOperatorPayout(db.sql, request(operator, 3500n * CENT, "req-1"));
    assert.equal(first.created, true);
    assert.equal(first.payout.payee, "operator");
    assert.equal(first.payout.amount, 3500n * CENT);
    // The sub-cent remainder stays with a node; the in-flight account holds exactly the sum.
    assert.equal(
      await accountBalance(db.sql, operatorEarnings(a)) + await accountBalance(db.sql, operatorEarnings(b)),
      7n,
    );
    assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 3500n * CENT);
    const sources = await payoutSources(db.sql, first.payout.id);
    assert.equal(sources.reduce((s, x) => s + x.amount, 0n), 3500n * CENT);

    // The same request again moves nothing and returns the same payout.
    const again = await createOperatorPayout(db.sql, request(operator, 3500n * CENT, "req-1"));
    assert.equal(again.created, false);
    assert.equal(again.payout.id, first.payout.id);
    assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 3500n * CENT);
    assert.deepEqual((await listPayouts(db.sql, operator, { payee: "operator" })).map((p) => p.id), [
      first.payout.id,
    ]);
    assert.deepEqual(await reconcile(db.sql), []);
  },
);

testOnEachDatabase("operator payouts - a failed payout returns each node its own share", async (db) => {
  const { operator, a, b } = await twoNodes(db.sql);
  const { payout } = await createOperatorPayout(db.sql, request(operator, 3000n * CENT, null));
  const before = await payoutSources(db.sql, payout.id);
  assert.equal(before.length, 2);
  await failPayout(db.sql, payout.id, "refused");
  assert.equal(await accountBalance(db.sql, operatorEarnings(a)), 1500n * CENT + 7n);
  assert.equal(await accountBalance(db.sql, operatorEarnings(b)), 2000n * CENT);
  assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 0n);
  assert.deepEqual(await reconcile(db.sql), []);
});

testOnEachDatabase(
  "operator payouts - more than the sum, or below the minimum, moves nothing",
  async (db) => {
    const { operator } = await twoNodes(db.sql);
    await assert.rejects(
      createOperatorPayout(db.sql, request(operator, 3501n * CENT, "k")),
      (e) => e instanceof PayoutError && e.code === "insufficient_funds",
    );
    await assert.rejects(
      createOperatorPayout(db.sql, request(operator, 999n * CENT, "k")),
      (e) => e instanceof PayoutError && e.code === "below_minimum",
    );
    assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 0n);
    assert.deepEqual(await listPayouts(db.sql, operator, { payee: "operator" }), []);
  },
);

testOnEachDatabase(
  "operator payouts - a claimed node is paid through its operator, never on its own",
  async (db) => {
    const { operator, a } = await twoNodes(db.sql);
    await setPayoutAddress(db.sql, { nodePubkey: a, coin: "BTC", address: BTC });
    await assert.rejects(
      createPayout(db.sql, { ...request(operator, 1000n * CENT, null), nodePubkey: a }),
      (e) => e instanceof PayoutError && e.code === "claimed",
    );
    assert.deepEqual(await operatorsDueAutomaticPayout(db.sql, 1000n * CENT), [], "not paid as a node");
    assert.deepEqual(
      await operatorsDueAutomaticOperatorPayout(db.sql, 1000n * CENT),
      [],
      "no operator address yet",
    );
    await setOperatorPayoutAddress(db.sql, { operatorPubkey: operator, coin: "BTC", address: BTC });
    assert.deepEqual(await operatorsDueAutomaticOperatorPayout(db.sql, 3500n * CENT), [operator]);
    assert.deepEqual(await operatorsDueAutomaticOperatorPayout(db.sql, 3501n * CENT), []);
    // The node's own page still shows its own earnings, and no operator payout among its payouts.
    await createOperatorPayout(db.sql, request(operator, 3500n * CENT, null));
    assert.deepEqual(await listPayouts(db.sql, a), []);
    assert.equal(
      (await earningsSummary(db.sql, operator)).coins.length,
      0,
      "a node summary never counts operator payouts",
    );
  },
);

testOnEachDatabase("operator payouts - a node that never claimed is paid as before", async (db) => {
  const node = getPublicKey(generateSecretKey());
  await fundOperatorEarnings(db.sql, node, 1200n * CENT);
  await setPayoutAddress(db.sql, { nodePubkey: node, coin: "BTC", address: BTC });
  assert.deepEqual(await operatorsDueAutomaticPayout(db.sql, 1000n * CENT), [node]);
  const p = await createPayout(db.sql, { ...request(node, 1200n * CENT, null), nodePubkey: node });
  assert.equal(p.payee, "node");
  assert.deepEqual((await listPayouts(db.sql, node)).map((x) => x.id), [p.id]);
});

testOnEachDatabase(
  "operator payouts - concurrent requests pay the sum once, with one key or two",
  async (db) => {
    const { operator } = await twoNodes(db.sql);
    const same = await Promise.all(
      [1, 2, 3].map(() => createOperatorPayout(db.sql, request(operator, 3500n * CENT, "same"))),
    );
    assert.equal(new Set(same.map((r) => r.payout.id)).size, 1, "one payout for one key");
    assert.equal(same.filter((r) => r.created).length, 1);
    await fundOperatorEarnings(
      db.sql,
      (await payoutSources(db.sql, same[0].payout.id))[0].nodePubkey,
      1000n * CENT,
    );
    const results = await Promise.allSettled(
      ["k1", "k2", "k3"].map((k) => createOperatorPayout(db.sql, request(operator, 1000n * CENT, k))),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1, "the new earnings are paid once");
    for (const r of results) {
      if (r.status === "rejected") {
        assert.ok(
          r.reason instanceof PayoutError && r.reason.code === "insufficient_funds",
          String(r.reason),
        );
      }
    }
    assert.equal(await accountBalance(db.sql, PAYOUTS_IN_FLIGHT), 4500n * CENT);
    assert.deepEqual(await reconcile(db.sql), []);
  },
);
