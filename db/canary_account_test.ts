import assert from "node:assert/strict";
import { testOnEachDatabase } from "../testing/databases.ts";
import { fundOperatorEarnings } from "../testing/funding.ts";
import { ensurePlatformApiKey, fundCanaryKey } from "./canary_account.ts";
import { createApiKey, findApiKeyByHash, hashApiKey } from "./api_keys.ts";
import { accountBalance, consumerBalance, PLATFORM_FEES } from "./ledger.ts";
import { reconcile } from "./reconcile.ts";

testOnEachDatabase(
  "canary account - one platform key, rehashed when the platform's key changes",
  async (db) => {
    const id = await ensurePlatformApiKey(db.sql, "inf_canary_one");
    assert.equal(await ensurePlatformApiKey(db.sql, "inf_canary_one"), id);
    const found = await findApiKeyByHash(db.sql, hashApiKey("inf_canary_one"));
    assert.deepEqual([found?.id, found?.platform], [id, true]);
    // A consumer's key is never the platform's: the mark comes from this row only.
    const consumer = await createApiKey(db.sql, { label: "platform" });
    assert.equal((await findApiKeyByHash(db.sql, hashApiKey(consumer.key)))?.platform, false);
    assert.equal(await ensurePlatformApiKey(db.sql, "inf_canary_two"), id);
    assert.equal(await findApiKeyByHash(db.sql, hashApiKey("inf_canary_one")), null);
    const [{ n }] = await db.sql<{ n: number }[]>`select count(*)::int as n from api_keys where platform`;
    assert.equal(n, 1);
  },
);

testOnEachDatabase(
  "canary account - funded from platform fees only, never past them, reconcile clean",
  async (db) => {
    const id = await ensurePlatformApiKey(db.sql, "inf_canary");
    // No fees yet: nothing to move, canaries starve.
    assert.deepEqual(await fundCanaryKey(db.sql, { apiKeyId: id, below: 100n, target: 1000n }), {
      funded: 0n,
      balance: 0n,
      starved: true,
    });
    // One job earns the platform a fee of 100 (10 % of 1,000).
    await fundOperatorEarnings(db.sql, "ab".repeat(32), 900n);
    assert.equal(await accountBalance(db.sql, PLATFORM_FEES), 100n);
    assert.deepEqual(await fundCanaryKey(db.sql, { apiKeyId: id, below: 50n, target: 80n }), {
      funded: 80n,
      balance: 80n,
      starved: false,
    });
    // Above the threshold: nothing moves.
    assert.equal((await fundCanaryKey(db.sql, { apiKeyId: id, below: 50n, target: 80n })).funded, 0n);
    // Under it, with 20 of fees left: 20 moves, the rest is wanting.
    assert.deepEqual(await fundCanaryKey(db.sql, { apiKeyId: id, below: 500n, target: 1000n }), {
      funded: 20n,
      balance: 100n,
      starved: true,
    });
    assert.equal(await accountBalance(db.sql, PLATFORM_FEES), 0n);
    assert.equal(await accountBalance(db.sql, consumerBalance(id)), 100n);
    assert.deepEqual(await reconcile(db.sql), []);
    // Canary funding that reaches a consumer's key is named by reconcile.
    await db.sql`update api_keys set platform = false where id = ${id}`;
    const found = await reconcile(db.sql);
    assert.ok(found.some((d) => /canary funding moved money/.test(d.check)), JSON.stringify(found));
  },
);
