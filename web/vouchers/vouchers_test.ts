// Vouchers over real HTTP on both databases: issued against the balance (idempotent, 402 when it
// cannot cover them), checked offline, redeemed once by the node that served the job with its
// signed receipt, refused with a clear code and nothing changed otherwise, expired ones released;
// the ledger reconciles after all of it.
import assert from "node:assert/strict";
import { finalizeEvent, generateSecretKey, getPublicKey, type NostrEvent } from "nostr-tools/pure";
import {
  canonicalJson,
  type CanonicalValue,
  createNip98Header,
  createNodeReceipt,
  createNodeRecord,
  createVoucher,
  NANO_USD_PER_USD,
  nostrDid,
  nowSeconds,
  verifyNodeRecord,
  verifyVoucher,
} from "../../shared/mod.ts";
import {
  accountBalance,
  consumerBalance,
  consumerVouchers,
  type Database,
  operatorEarnings,
  PLATFORM_FEES,
  reconcile,
  releaseExpiredVouchers,
} from "../../db/mod.ts";
import { testOnEachDatabase } from "../../testing/databases.ts";
import { createTestKey, openTestControlPlane, type TestControlPlane } from "../../testing/control_plane.ts";
import { sampleAdvert } from "../../testing/node_advert.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const PRICES = { promptPricePer1k: 1_000_000, completionPricePer1k: 2_000_000 };
const USD = NANO_USD_PER_USD;

interface Env {
  tcp: TestControlPlane;
  url: string;
  key: string;
  keyId: bigint;
  node: Uint8Array;
  consumer: string;
}

async function setUp(db: Database): Promise<Env> {
  const tcp = await openTestControlPlane({ serve: true, db, config: { feeBps: 1000 } });
  const { key, id } = await createTestKey(db.sql, 10n * USD);
  const node = generateSecretKey();
  const record = verifyNodeRecord(
    createNodeRecord(node, sampleAdvert({ models: [{ id: "m", contextLength: 4096, ...PRICES }] })),
  );
  if (!record.ok) throw new Error(record.reason);
  await tcp.cp.registry.register(record.record);
  return {
    tcp,
    url: `http://127.0.0.1:${tcp.server!.port}`,
    key,
    keyId: id,
    node,
    consumer: getPublicKey(generateSecretKey()),
  };
}

async function take(
  env: Env,
  body: unknown,
  headers: Record<string, string> = {},
  key: string | null = env.key,
) {
  const res = await fetch(`${env.url}/v1/vouchers`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...headers,
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() as Json };
}

async function redeem(env: Env, body: unknown, node = env.node) {
  const url = `${env.url}/api/vouchers/redeem`;
  const text = JSON.stringify(body);
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: createNip98Header(node, url, "POST", text),
    },
    body: text,
  });
  return { status: res.status, json: await res.json() as Json };
}

function receiptFor(node: Uint8Array, taskId: string, usage: [number, number], seq = 1): NostrEvent {
  return createNodeReceipt(node, {
    task_id: taskId,
    category: "inference:chat",
    model: "m",
    outcome: "success",
    artifact_hash: null,
    usage: { prompt_tokens: usage[0], completion_tokens: usage[1] },
    ttft_ms: 5,
    duration_ms: 40,
    seq,
    prev: null,
    created_at: nowSeconds(),
  });
}

/** A node receipt with extra tags (a `p` naming a consumer), signed like createNodeReceipt's. */
function taggedReceipt(node: Uint8Array, taskId: string, tags: string[][]): NostrEvent {
  const content = {
    task_id: taskId,
    agent_did: nostrDid(getPublicKey(node)),
    category: "inference:chat",
    model: "m",
    outcome: "success",
    artifact_hash: null,
    usage: { prompt_tokens: 10, completion_tokens: 10 },
    ttft_ms: null,
    duration_ms: 1,
    seq: 1,
    prev: null,
    created_at: nowSeconds(),
  };
  return finalizeEvent({
    kind: 7475,
    created_at: content.created_at,
    tags: [["t", "infernet-receipt"], ["job", taskId], ...tags],
    content: canonicalJson(content as unknown as CanonicalValue),
  }, node);
}

const PRICE = { prompt_per_1k: PRICES.promptPricePer1k, completion_per_1k: PRICES.completionPricePer1k };

async function money(env: Env) {
  const sql = env.tcp.cp.db.sql;
  return {
    balance: await accountBalance(sql, consumerBalance(env.keyId)),
    vouchers: await accountBalance(sql, consumerVouchers(env.keyId)),
    operator: await accountBalance(sql, operatorEarnings(getPublicKey(env.node))),
    fees: await accountBalance(sql, PLATFORM_FEES),
  };
}

testOnEachDatabase("vouchers api - issue, redeem once, refuse the rest, expire; reconciled", async (db) => {
  const env = await setUp(db);
  try {
    // Bad requests: clear OpenAI-style errors, nothing held.
    for (
      const [body, param] of [
        [{ count: 0, max_usd: "1", consumer_pubkey: env.consumer }, "count"],
        [{ count: 101, max_usd: "1", consumer_pubkey: env.consumer }, "count"],
        [{ count: 1, max_usd: "0", consumer_pubkey: env.consumer }, "max_usd"],
        [{ count: 1, max_usd: "0.0000000001", consumer_pubkey: env.consumer }, "max_usd"],
        [{ count: 1, max_usd: "1", consumer_pubkey: "xyz" }, "consumer_pubkey"],
        [{ count: 1, max_usd: "1", ttl_s: 8 * 86_400, consumer_pubkey: env.consumer }, "ttl_s"],
      ] as const
    ) {
      const res = await take(env, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.error.code, "invalid_request");
      assert.equal(res.json.error.param, param);
    }
    assert.equal(
      (await take(env, { count: 1, max_usd: "1", consumer_pubkey: env.consumer }, {}, null)).status,
      401,
    );
    assert.equal((await money(env)).balance, 10n * USD);

    // Three vouchers of 1 USD: 3 USD held, the events verify offline with the platform key.
    const ask = { count: 3, max_usd: "1", consumer_pubkey: env.consumer };
    const first = await take(env, ask, { "idempotency-key": "batch-1" });
    assert.equal(first.status, 201, JSON.stringify(first.json));
    assert.equal(first.json.vouchers.length, 3);
    assert.equal(first.json.total_usd, "3");
    const platformPubkey = first.json.platform_pubkey;
    assert.equal(platformPubkey, env.tcp.cp.platformKey.pubkey);
    const vouchers: NostrEvent[] = first.json.vouchers;
    for (const v of vouchers) {
      const check = verifyVoucher(v, { platformPubkey, nowS: nowSeconds() });
      assert.ok(check.ok);
      assert.equal(check.voucher.content.consumer, env.consumer);
      assert.equal(check.voucher.content.max_nano, String(USD));
    }
    assert.deepEqual(await money(env), { balance: 7n * USD, vouchers: 3n * USD, operator: 0n, fees: 0n });
    // The retry answers the same vouchers and holds nothing more; another body under the key is 409.
    const retry = await take(env, ask, { "idempotency-key": "batch-1" });
    assert.equal(retry.status, 201);
    assert.deepEqual(retry.json.vouchers.map((v: NostrEvent) => v.id), vouchers.map((v) => v.id));
    const reused = await take(env, { ...ask, count: 2 }, { "idempotency-key": "batch-1" });
    assert.equal(reused.status, 409);
    assert.equal(reused.json.error.code, "idempotency_key_reused");
    // More than the balance covers: 402, nothing held.
    const broke = await take(env, { count: 8, max_usd: "1", consumer_pubkey: env.consumer });
    assert.equal(broke.status, 402);
    assert.equal(broke.json.error.code, "insufficient_quota");
    assert.deepEqual(await money(env), { balance: 7n * USD, vouchers: 3n * USD, operator: 0n, fees: 0n });

    const [v1, v2, v3] = vouchers;
    const id1 = JSON.parse(v1.content).voucher_id;
    const id2 = JSON.parse(v2.content).voucher_id;
    const before = await money(env);
    const refused = async (body: unknown, status: number, code: string, node = env.node) => {
      const res = await redeem(env, body, node);
      assert.equal(res.status, status, JSON.stringify(res.json));
      assert.equal(res.json.error.code, code);
      assert.deepEqual(await money(env), before, code);
    };
    // Forged: a voucher signed by another key, or its content changed.
    const stranger = generateSecretKey();
    const forged = createVoucher(stranger, JSON.parse(v1.content));
    await refused(
      { voucher: forged, receipt: receiptFor(env.node, id1, [10, 10]), price: PRICE },
      400,
      "voucher_forged",
    );
    const raised = { ...v1, content: v1.content.replace(`"max_nano":"${USD}"`, `"max_nano":"${9n * USD}"`) };
    await refused(
      { voucher: raised, receipt: receiptFor(env.node, id1, [10, 10]), price: PRICE },
      400,
      "voucher_forged",
    );
    // Receipts: another node's, another voucher's job, another consumer's, or not a receipt.
    const other = generateSecretKey();
    await refused(
      { voucher: v1, receipt: receiptFor(other, id1, [10, 10]), price: PRICE },
      400,
      "receipt_invalid",
    );
    await refused(
      { voucher: v1, receipt: receiptFor(env.node, id2, [10, 10]), price: PRICE },
      400,
      "receipt_invalid",
    );
    const otherConsumer = getPublicKey(generateSecretKey());
    await refused(
      {
        voucher: v1,
        receipt: taggedReceipt(env.node, "job-x", [["voucher", id1], ["p", otherConsumer]]),
        price: PRICE,
      },
      400,
      "receipt_invalid",
    );
    await refused({ voucher: v1, receipt: { ...v1 }, price: PRICE }, 400, "receipt_invalid");
    // Prices above the node's registered ones.
    await refused(
      {
        voucher: v1,
        receipt: receiptFor(env.node, id1, [10, 10]),
        price: { ...PRICE, prompt_per_1k: PRICE.prompt_per_1k + 1 },
      },
      400,
      "price_invalid",
    );

    // The good one: 1000 prompt + 500 completion = 2,000,000 nano; 10 % fee.
    const ok = await redeem(env, {
      voucher: v1,
      receipt: receiptFor(env.node, id1, [1000, 500]),
      price: PRICE,
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal(ok.json.charged_nano, "2000000");
    assert.equal(ok.json.operator_share_nano, "1800000");
    assert.equal(ok.json.platform_fee_nano, "200000");
    assert.equal(ok.json.released_nano, String(USD - 2_000_000n));
    const after1 = await money(env);
    assert.deepEqual(after1, {
      balance: 7n * USD + USD - 2_000_000n,
      vouchers: 2n * USD,
      operator: 1_800_000n,
      fees: 200_000n,
    });
    // Twice: refused, nothing changed.
    const twice = await redeem(env, {
      voucher: v1,
      receipt: receiptFor(env.node, id1, [1000, 500], 2),
      price: PRICE,
    });
    assert.equal(twice.status, 409);
    assert.equal(twice.json.error.code, "voucher_redeemed");
    assert.deepEqual(await money(env), after1);
    // The voucher tag names the voucher when the job has another id; over the cap, the max is charged.
    const capped = await redeem(env, {
      voucher: v2,
      receipt: taggedReceipt(env.node, "job-2", [["voucher", id2], ["p", env.consumer]]),
      price: { prompt_per_1k: 100_000_000_000, completion_per_1k: 0 },
    });
    assert.equal(capped.status, 400, "a price above the registered one is refused even when capped");
    const huge = await redeem(env, {
      voucher: v2,
      receipt: receiptFor(env.node, id2, [5_000_000, 5_000_000]),
      price: PRICE,
    });
    assert.equal(huge.status, 200, JSON.stringify(huge.json));
    assert.equal(huge.json.charged_nano, String(USD));
    const after2 = await money(env);
    assert.equal(after2.vouchers, USD);
    assert.equal(after2.operator + after2.fees, 2_000_000n + USD);

    // Expiry: a one-second voucher, redeemed too late, then released by the sweep.
    const short = await take(env, { count: 1, max_usd: "0.5", ttl_s: 1, consumer_pubkey: env.consumer });
    assert.equal(short.status, 201);
    const [v4] = short.json.vouchers as NostrEvent[];
    const id4 = JSON.parse(v4.content).voucher_id;
    const expiresAt = JSON.parse(v4.content).expires_at;
    while (nowSeconds() <= expiresAt) await new Promise((r) => setTimeout(r, 100));
    const late = await redeem(env, { voucher: v4, receipt: receiptFor(env.node, id4, [1, 1]), price: PRICE });
    assert.equal(late.status, 410);
    assert.equal(late.json.error.code, "voucher_expired");
    assert.equal(await releaseExpiredVouchers(db.sql, nowSeconds()), 1);
    const end = await money(env);
    assert.equal(end.vouchers, USD, "only v3 is still held");
    assert.equal(end.balance, after2.balance, "the half dollar went back whole");
    // v3 stays issued until it expires; all of it reconciles.
    assert.ok(v3);
    assert.deepEqual(await reconcile(db.sql), []);
    assert.equal(10n * USD - end.balance - end.vouchers, end.operator + end.fees);
  } finally {
    await env.tcp.close();
  }
});
