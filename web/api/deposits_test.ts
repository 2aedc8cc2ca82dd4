// Consumer deposits over real HTTP: POST /api/deposits creates a payment at a fake CoinPayPortal,
// its signed webhook credits the balance once, and bad input never reaches the processor.
import assert from "node:assert/strict";
import { accountBalance, type Database, PROCESSOR_CLEARING } from "../../db/mod.ts";
import { testOnEachDatabase } from "../../testing/databases.ts";
import { NANO_USD_PER_USD } from "../../shared/mod.ts";
import type { FakeCoinPayPortal } from "../../testing/fake_coinpayportal.ts";
import {
  createTestKey,
  openPaymentsTestControlPlane,
  type TestControlPlane,
} from "../../testing/control_plane.ts";

const CP_API_KEY = "cp_test_deposits";
const BUSINESS_ID = "biz_deposits";
const WEBHOOK_SECRET = "whsec_deposits";

interface Env {
  fake: FakeCoinPayPortal;
  tcp: TestControlPlane;
  url: string;
  key: string;
  keyId: bigint;
  close(): Promise<void>;
}

/** A fake CoinPayPortal, a served control plane that uses it (on `db` when given), and an unfunded API key. */
async function setUp(db?: Database): Promise<Env> {
  const { fake, tcp, url } = await openPaymentsTestControlPlane({
    apiKey: CP_API_KEY,
    businessId: BUSINESS_ID,
    webhookSecret: WEBHOOK_SECRET,
  }, db);
  const { key, id } = await createTestKey(tcp.cp.db.sql, 0n);
  return {
    fake,
    tcp,
    url,
    key,
    keyId: id,
    async close() {
      await fake.close();
      await tcp.close();
    },
  };
}

// deno-lint-ignore no-explicit-any
type Json = any;

async function call(
  env: Env,
  method: string,
  path: string,
  opts: { key?: string | null; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: Json }> {
  const headers: Record<string, string> = { ...opts.headers };
  const key = opts.key === undefined ? env.key : opts.key;
  if (key) headers.authorization = `Bearer ${key}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers["content-type"] = "application/json";
    body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
  }
  const res = await fetch(env.url + path, { method, headers, body });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

function deposit(env: Env, body: unknown, headers: Record<string, string> = {}) {
  return call(env, "POST", "/api/deposits", { body, headers });
}

async function balanceUsd(env: Env, key = env.key): Promise<string> {
  const res = await call(env, "GET", "/api/balance", { key });
  assert.equal(res.status, 200);
  return res.json.balance_usd;
}

/** The sum of every posting, and of every account balance: both zero in a double-entry ledger. */
async function ledgerSums(env: Env): Promise<{ postings: bigint; accounts: bigint }> {
  const sql = env.tcp.cp.db.sql;
  const [p] = await sql<{ s: bigint }[]>`select coalesce(sum(amount), 0)::bigint as s from postings`;
  const [a] = await sql<{ s: bigint }[]>`select coalesce(sum(balance), 0)::bigint as s from accounts`;
  return { postings: p.s, accounts: a.s };
}

Deno.test("deposits - a confirmed deposit of 12.50 USDC on Solana credits the balance once", async () => {
  const env = await setUp();
  try {
    assert.equal(await balanceUsd(env), "0");
    const created = await deposit(env, { amount_usd: "12.50", coin: "USDC_SOL" });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const d = created.json;
    assert.equal(d.object, "deposit");
    assert.equal(d.status, "pending");
    assert.equal(d.amount_usd, "12.5");
    assert.equal(d.coin, "USDC_SOL");
    assert.ok(typeof d.payment_address === "string" && d.payment_address.length > 0);
    assert.ok(typeof d.crypto_amount === "string" && Number(d.crypto_amount) > 0);
    assert.match(d.qr_code, /^data:image\//);
    assert.ok(Date.parse(d.expires_at) > Date.now());
    assert.equal(d.credited_at, null);

    assert.equal(env.fake.payments.length, 1);
    const sent = env.fake.payments[0];
    assert.equal(sent.id, d.id);
    assert.equal(sent.amountUsd, 12.5);
    assert.equal(sent.blockchain, "USDC_SOL");
    assert.equal(JSON.parse(sent.rawBody).amount_usd, 12.5);
    assert.equal(JSON.parse(sent.rawBody).business_id, BUSINESS_ID);
    assert.equal(sent.paymentAddress, d.payment_address);

    assert.equal(await balanceUsd(env), "0");
    const before = await call(env, "GET", `/api/deposits/${d.id}`);
    assert.equal(before.status, 200);
    assert.equal(before.json.status, "pending");

    const delivered = await env.fake.confirm(d.id);
    assert.equal(delivered.delivered, true);
    assert.equal(delivered.lastStatus, 200);

    assert.equal(await balanceUsd(env), "12.5");
    const after = await call(env, "GET", `/api/deposits/${d.id}`);
    assert.equal(after.status, 200);
    assert.equal(after.json.status, "credited");
    assert.ok(after.json.credited_at);

    const bal = await call(env, "GET", "/api/balance");
    assert.equal(bal.json.held_usd, "0");
    assert.equal(bal.json.deposits.length, 1);
    assert.equal(bal.json.deposits[0].id, d.id);
    assert.equal(bal.json.deposits[0].status, "credited");
    assert.deepEqual(
      bal.json.movements.map((m: Json) => [m.type, m.amount_usd, m.payment_id]),
      [["deposit", "12.5", d.id]],
    );

    assert.deepEqual(await ledgerSums(env), { postings: 0n, accounts: 0n });
    assert.equal(
      await accountBalance(env.tcp.cp.db.sql, PROCESSOR_CLEARING),
      -(125n * NANO_USD_PER_USD) / 10n,
    );
  } finally {
    await env.close();
  }
});

Deno.test("deposits - the same Idempotency-Key twice creates one payment", async () => {
  const env = await setUp();
  try {
    const headers = { "idempotency-key": "retry-me-1" };
    const first = await deposit(env, { amount_usd: "20", coin: "ETH" }, headers);
    const second = await deposit(env, { amount_usd: "20", coin: "ETH" }, headers);
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    assert.equal(second.json.id, first.json.id);
    assert.equal(second.json.payment_address, first.json.payment_address);
    assert.equal(env.fake.payments.length, 1);
    const [{ n }] = await env.tcp.cp.db.sql<{ n: bigint }[]>`select count(*)::bigint as n from payments`;
    assert.equal(n, 1n);

    // Without the header, each POST is a new deposit.
    const third = await deposit(env, { amount_usd: "20", coin: "ETH" });
    assert.equal(third.status, 201);
    assert.notEqual(third.json.id, first.json.id);
    assert.equal(env.fake.payments.length, 2);
  } finally {
    await env.close();
  }
});

Deno.test("deposits - another API key cannot see my deposit, and its Idempotency-Key is its own", async () => {
  const env = await setUp();
  try {
    const mine = await deposit(env, { amount_usd: "5", coin: "BTC" }, { "idempotency-key": "same" });
    assert.equal(mine.status, 201);
    const other = await createTestKey(env.tcp.cp.db.sql, 0n);
    const peek = await call(env, "GET", `/api/deposits/${mine.json.id}`, { key: other.key });
    assert.equal(peek.status, 404);
    assert.equal(peek.json.error.code, "payment_not_found");
    const missing = await call(env, "GET", "/api/deposits/no-such-payment");
    assert.equal(missing.status, 404);

    // The same header value from another key is another deposit, not mine.
    const theirs = await call(env, "POST", "/api/deposits", {
      key: other.key,
      body: { amount_usd: "5", coin: "BTC" },
      headers: { "idempotency-key": "same" },
    });
    assert.equal(theirs.status, 201);
    assert.notEqual(theirs.json.id, mine.json.id);

    await env.fake.confirm(mine.json.id);
    assert.equal(await balanceUsd(env), "5");
    assert.equal(await balanceUsd(env, other.key), "0");
  } finally {
    await env.close();
  }
});

Deno.test("deposits - bad input gets a 400 naming the parameter and creates nothing", async () => {
  const env = await setUp();
  try {
    const cases: Array<[string, unknown, string | null, string]> = [
      ["below the minimum", { amount_usd: "0.99", coin: "USDC_SOL" }, "amount_usd", "invalid_amount"],
      ["zero", { amount_usd: "0", coin: "USDC_SOL" }, "amount_usd", "invalid_amount"],
      ["above the maximum", { amount_usd: "10000.01", coin: "USDC_SOL" }, "amount_usd", "invalid_amount"],
      ["three decimals", { amount_usd: "12.505", coin: "USDC_SOL" }, "amount_usd", "invalid_amount"],
      [
        "a tenth of a nano-dollar",
        { amount_usd: "12.5000000001", coin: "USDC_SOL" },
        "amount_usd",
        "invalid_amount",
      ],
      ["negative", { amount_usd: "-5", coin: "USDC_SOL" }, "amount_usd", "invalid_amount"],
      ["a negative number", { amount_usd: -5, coin: "USDC_SOL" }, "amount_usd", "invalid_amount"],
      ["garbage", { amount_usd: "twelve", coin: "USDC_SOL" }, "amount_usd", "invalid_amount"],
      ["exponent form", { amount_usd: "1e3", coin: "USDC_SOL" }, "amount_usd", "invalid_amount"],
      ["missing amount", { coin: "USDC_SOL" }, "amount_usd", "invalid_amount"],
      ["boolean amount", { amount_usd: true, coin: "USDC_SOL" }, "amount_usd", "invalid_amount"],
      ["unknown coin", { amount_usd: "12.50", coin: "SHIB" }, "coin", "invalid_coin"],
      ["lower-case coin", { amount_usd: "12.50", coin: "usdc_sol" }, "coin", "invalid_coin"],
      ["missing coin", { amount_usd: "12.50" }, "coin", "invalid_coin"],
      ["not JSON", "{amount_usd: 12.50", null, "invalid_json"],
      ["a JSON array", [], "amount_usd", "invalid_amount"],
    ];
    for (const [what, body, param, code] of cases) {
      const res = await deposit(env, body);
      assert.equal(res.status, 400, `${what}: ${JSON.stringify(res.json)}`);
      assert.equal(typeof res.json.error.message, "string", what);
      assert.equal(res.json.error.type, "invalid_request_error", what);
      assert.equal(res.json.error.code, code, what);
      assert.equal(res.json.error.param, param, what);
    }
    // The bounds themselves are accepted.
    assert.equal((await deposit(env, { amount_usd: "1.00", coin: "USDC_SOL" })).status, 201);
    assert.equal((await deposit(env, { amount_usd: 10000, coin: "USDC_SOL" })).status, 201);
    assert.equal(env.fake.payments.length, 2);
  } finally {
    await env.close();
  }
});

Deno.test("deposits - without a valid API key every deposit route answers 401", async () => {
  const env = await setUp();
  try {
    const made = await deposit(env, { amount_usd: "3", coin: "SOL" });
    const attempts = [
      await call(env, "POST", "/api/deposits", {
        key: null,
        body: { amount_usd: "12.50", coin: "USDC_SOL" },
      }),
      await call(env, "POST", "/api/deposits", {
        key: "sk-not-a-key",
        body: { amount_usd: "12.50", coin: "USDC_SOL" },
      }),
      await call(env, "GET", `/api/deposits/${made.json.id}`, { key: null }),
      await call(env, "GET", "/api/balance", { key: null }),
    ];
    for (const res of attempts) {
      assert.equal(res.status, 401, JSON.stringify(res.json));
      assert.equal(res.json.error.code, "invalid_api_key");
    }
    assert.equal(env.fake.payments.length, 1);
  } finally {
    await env.close();
  }
});

testOnEachDatabase(
  "deposits - the same Idempotency-Key with another amount or coin answers 409 and creates nothing",
  async (db) => {
    const env = await setUp(db);
    try {
      const headers = { "idempotency-key": "one-deposit" };
      const first = await deposit(env, { amount_usd: "20", coin: "ETH" }, headers);
      assert.equal(first.status, 201);
      for (const body of [{ amount_usd: "25", coin: "ETH" }, { amount_usd: "20", coin: "BTC" }]) {
        const res = await deposit(env, body, headers);
        assert.equal(res.status, 409, JSON.stringify(res.json));
        assert.equal(res.json.error.type, "invalid_request_error");
        assert.equal(res.json.error.code, "idempotency_key_reused");
        assert.match(res.json.error.message, /one-deposit.*20 USD in ETH/);
      }
      // Still the first deposit, and the processor was asked once.
      const again = await deposit(env, { amount_usd: "20.00", coin: "ETH" }, headers);
      assert.equal(again.status, 201);
      assert.equal(again.json.id, first.json.id);
      assert.equal(env.fake.payments.length, 1);
      const [{ n }] = await env.tcp.cp.db.sql<{ n: bigint }[]>`select count(*)::bigint as n from payments`;
      assert.equal(n, 1n);
    } finally {
      await env.close();
    }
  },
);

testOnEachDatabase(
  "deposits - two racing POSTs with one Idempotency-Key and different bodies: one deposit, one 409",
  async (db) => {
    const env = await setUp(db);
    try {
      for (let round = 0; round < 5; round++) {
        const headers = { "idempotency-key": `race-${round}` };
        const answers = await Promise.all([
          deposit(env, { amount_usd: "7", coin: "SOL" }, headers),
          deposit(env, { amount_usd: "8", coin: "SOL" }, headers),
        ]);
        const statuses = answers.map((a) => a.status).sort();
        assert.deepEqual(statuses, [201, 409], JSON.stringify(answers.map((a) => a.json)));
        const created = answers.find((a) => a.status === 201)!;
        const [row] = await env.tcp.cp.db.sql<{ id: string; n: bigint }[]>`
        select min(id) as id, count(*)::bigint as n from payments where idempotency_key = ${
          headers["idempotency-key"]
        }`;
        assert.equal(row.n, 1n);
        assert.equal(row.id, created.json.id);
      }
    } finally {
      await env.close();
    }
  },
);
