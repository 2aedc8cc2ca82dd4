// The CoinPayPortal webhook over real HTTP: only a correctly signed, fresh event for our business
// changes anything; each event id and each payment credits once, however often and however
// concurrently it is delivered; unknown payments and a receiver that was down are retried.
import assert from "node:assert/strict";
import {
  accountBalance,
  consumerBalance,
  type Database,
  PROCESSOR_CLEARING,
  reconcile,
} from "../../../db/mod.ts";
import { testOnEachDatabase } from "../../../testing/databases.ts";
import { NANO_USD_PER_USD } from "../../../shared/mod.ts";
import type { FakeCoinPayPortal } from "../../../testing/fake_coinpayportal.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { signCoinPayWebhook } from "../../payments/webhook.ts";
import { createTestKey, openPaymentsTestControlPlane } from "../../../testing/control_plane.ts";

const CP_API_KEY = "cp_test_webhooks";
const BUSINESS_ID = "biz_webhooks";
const WEBHOOK_SECRET = "whsec_webhooks";

interface Env {
  fake: FakeCoinPayPortal;
  cp: ControlPlane;
  url: string;
  key: string;
  keyId: bigint;
  close(): Promise<void>;
}

/** A fake CoinPayPortal, a served test control plane that uses it (on `db` when given), and an
 * unfunded API key. */
async function setUp(db?: Database): Promise<Env> {
  const { fake, tcp, url, close } = await openPaymentsTestControlPlane({
    apiKey: CP_API_KEY,
    businessId: BUSINESS_ID,
    webhookSecret: WEBHOOK_SECRET,
  }, db);
  const { key, id } = await createTestKey(tcp.cp.db.sql, 0n);
  return { fake, cp: tcp.cp, url, key, keyId: id, close };
}

// deno-lint-ignore no-explicit-any
type Json = any;

async function call(
  env: Env,
  method: string,
  path: string,
  opts: { key?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: Json }> {
  const headers: Record<string, string> = { authorization: `Bearer ${opts.key ?? env.key}`, ...opts.headers };
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  const res = await fetch(env.url + path, { method, headers, body });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** Creates a 12.50 USD deposit in USDC on Solana; its payment id. */
async function newDeposit(env: Env, headers: Record<string, string> = {}): Promise<string> {
  const res = await call(env, "POST", "/api/deposits", {
    body: { amount_usd: "12.50", coin: "USDC_SOL" },
    headers,
  });
  assert.equal(res.status, 201, JSON.stringify(res.json));
  return res.json.id;
}

async function balanceUsd(env: Env): Promise<string> {
  const res = await call(env, "GET", "/api/balance");
  assert.equal(res.status, 200);
  return res.json.balance_usd;
}

async function depositStatus(env: Env, id: string): Promise<string> {
  const res = await call(env, "GET", `/api/deposits/${id}`);
  assert.equal(res.status, 200);
  return res.json.status;
}

/** How many ledger transactions credited this payment, and how many webhook events were recorded. */
async function counts(env: Env, paymentId: string): Promise<{ credits: bigint; events: bigint }> {
  const sql = env.cp.db.sql;
  const [c] = await sql<{ n: bigint }[]>`
    select count(*)::bigint as n from ledger_transactions where idempotency_key = ${`deposit:${paymentId}`}`;
  const [e] = await sql<{ n: bigint }[]>`select count(*)::bigint as n from webhook_events`;
  return { credits: c.n, events: e.n };
}

/** The ledger after one 12.50 deposit: consumer +12.5, clearing −12.5, postings summing to zero. */
async function assertCreditedOnce(env: Env, paymentId: string): Promise<void> {
  const sql = env.cp.db.sql;
  const amount = 125n * NANO_USD_PER_USD / 10n;
  assert.equal(await accountBalance(sql, consumerBalance(env.keyId)), amount);
  assert.equal(await accountBalance(sql, PROCESSOR_CLEARING), -amount);
  const [{ s }] = await sql<{ s: bigint }[]>`select coalesce(sum(amount), 0)::bigint as s from postings`;
  assert.equal(s, 0n);
  assert.equal((await counts(env, paymentId)).credits, 1n);
  assert.equal(await balanceUsd(env), "12.5");
  assert.equal(await depositStatus(env, paymentId), "credited");
}

async function assertNothingCredited(env: Env, paymentId: string): Promise<void> {
  assert.equal(await balanceUsd(env), "0");
  assert.equal(await accountBalance(env.cp.db.sql, PROCESSOR_CLEARING), 0n);
  assert.equal((await counts(env, paymentId)).credits, 0n);
}

let eventCounter = 0;

/** A webhook body as CoinPayPortal sends it, for our business, confirming the payment. */
function eventBody(
  paymentId: string,
  over: { id?: string; type?: string; status?: string; business_id?: string } = {},
): string {
  const status = over.status ?? "confirmed";
  return JSON.stringify({
    id: over.id ?? `evt_test${Date.now().toString(36)}${(eventCounter++).toString(36)}`,
    type: over.type ?? `payment.${status}`,
    data: {
      payment_id: paymentId,
      status,
      amount_usd: "12.50",
      amount_crypto: "12.5",
      currency: "USDC_SOL",
      confirmations: 6,
      payment_address: "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV",
      tx_hash: "5h6xBEauJ3PK6SWCZ1PGjBvj8vDdWG3KpwATGy1ARAXF",
      merchant_amount: "12.375",
      platform_fee: "0.125",
      metadata: {},
    },
    created_at: new Date().toISOString(),
    business_id: over.business_id ?? BUSINESS_ID,
  });
}

function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}

async function postWebhook(
  env: Env,
  body: string,
  signature: string | null = signCoinPayWebhook(body, WEBHOOK_SECRET, nowSec()),
): Promise<{ status: number; json: Json }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (signature !== null) headers["x-coinpay-signature"] = signature;
  const res = await fetch(`${env.url}/api/webhooks/coinpay`, { method: "POST", headers, body });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

Deno.test("coinpay webhook - a duplicate delivery of the same event credits once", async () => {
  const env = await setUp();
  try {
    const id = await newDeposit(env);
    const first = await env.fake.confirm(id);
    assert.equal(first.delivered, true);
    const again = await env.fake.redeliver(first.eventId);
    assert.equal(again.delivered, true);
    assert.equal(again.lastStatus, 200);
    await assertCreditedOnce(env, id);
    assert.equal((await counts(env, id)).events, 1n);
    const [{ outcome }] = await env.cp.db.sql<{ outcome: string }[]>`
      select outcome from webhook_events where id = ${first.eventId}`;
    assert.equal(outcome, "credited");
  } finally {
    await env.close();
  }
});

Deno.test("coinpay webhook - payment.confirmed then payment.forwarded for one payment credits once", async () => {
  const env = await setUp();
  try {
    const id = await newDeposit(env);
    assert.equal((await env.fake.confirm(id)).delivered, true);
    assert.equal((await env.fake.confirm(id, { status: "forwarded" })).delivered, true);
    await assertCreditedOnce(env, id);
    assert.equal((await counts(env, id)).events, 2n);
    const outcomes = await env.cp.db.sql<{ type: string; outcome: string }[]>`
      select type, outcome from webhook_events order by received_at, type`;
    assert.deepEqual(outcomes.map((o) => [o.type, o.outcome]), [
      ["payment.confirmed", "credited"],
      ["payment.forwarded", "already_credited"],
    ]);
  } finally {
    await env.close();
  }
});

Deno.test("coinpay webhook - payment.forwarded alone credits, and a later payment.confirmed does not", async () => {
  const env = await setUp();
  try {
    const id = await newDeposit(env);
    assert.equal((await postWebhook(env, eventBody(id, { status: "forwarded" }))).json.outcome, "credited");
    assert.equal(
      (await postWebhook(env, eventBody(id, { status: "confirmed" }))).json.outcome,
      "already_credited",
    );
    await assertCreditedOnce(env, id);
  } finally {
    await env.close();
  }
});

Deno.test("coinpay webhook - a signature made with another secret is refused with 401 and changes nothing", async () => {
  const env = await setUp();
  try {
    const id = await newDeposit(env);
    const body = eventBody(id);
    const forged = await postWebhook(env, body, signCoinPayWebhook(body, "whsec_attacker", nowSec()));
    assert.equal(forged.status, 401);
    assert.equal(forged.json.error.code, "webhook_invalid");
    await assertNothingCredited(env, id);
    assert.equal((await counts(env, id)).events, 0n);
    assert.equal(await depositStatus(env, id), "pending");
    // The same body correctly signed is taken: the refusal was the signature's.
    const genuine = await postWebhook(env, body);
    assert.equal(genuine.status, 200);
    await assertCreditedOnce(env, id);
  } finally {
    await env.close();
  }
});

Deno.test("coinpay webhook - a missing or garbled signature header is refused with 401", async () => {
  const env = await setUp();
  try {
    const id = await newDeposit(env);
    const body = eventBody(id);
    for (
      const header of [null, "", "garbage", `t=${nowSec()}`, `t=${nowSec()},v1=abc`, `v1=${"0".repeat(64)}`]
    ) {
      const res = await postWebhook(env, body, header);
      assert.equal(res.status, 401, `header ${header}`);
    }
    await assertNothingCredited(env, id);
    assert.equal((await counts(env, id)).events, 0n);
  } finally {
    await env.close();
  }
});

Deno.test("coinpay webhook - a signature older or newer than 300 s is refused with 401", async () => {
  const env = await setUp();
  try {
    const id = await newDeposit(env);
    const body = eventBody(id);
    const stale = await postWebhook(env, body, signCoinPayWebhook(body, WEBHOOK_SECRET, nowSec() - 301));
    assert.equal(stale.status, 401);
    assert.match(stale.json.error.message, /timestamp/);
    const future = await postWebhook(env, body, signCoinPayWebhook(body, WEBHOOK_SECRET, nowSec() + 301));
    assert.equal(future.status, 401);
    await assertNothingCredited(env, id);
    assert.equal(await depositStatus(env, id), "pending");
    // Inside the window (a slow retry) it is taken.
    const late = await postWebhook(env, body, signCoinPayWebhook(body, WEBHOOK_SECRET, nowSec() - 290));
    assert.equal(late.status, 200);
    await assertCreditedOnce(env, id);
  } finally {
    await env.close();
  }
});

Deno.test("coinpay webhook - a body changed after signing is refused with 401", async () => {
  const env = await setUp();
  try {
    const id = await newDeposit(env);
    const body = eventBody(id);
    const signature = signCoinPayWebhook(body, WEBHOOK_SECRET, nowSec());
    const tampered = body.replace('"amount_usd":"12.50"', '"amount_usd":"9999.00"');
    assert.notEqual(tampered, body);
    const res = await postWebhook(env, tampered, signature);
    assert.equal(res.status, 401);
    const padded = await postWebhook(env, body + " ", signature);
    assert.equal(padded.status, 401);
    await assertNothingCredited(env, id);
    assert.equal((await counts(env, id)).events, 0n);
  } finally {
    await env.close();
  }
});

Deno.test("coinpay webhook - a correctly signed body over 64 KB is refused with 413 and credits nothing", async () => {
  const env = await setUp();
  try {
    const id = await newDeposit(env);
    const event = JSON.parse(eventBody(id));
    const body = JSON.stringify({
      ...event,
      data: { ...event.data, metadata: { pad: "x".repeat(64 * 1024) } },
    });
    const res = await postWebhook(env, body);
    assert.equal(res.status, 413);
    assert.equal((res.json.error as Json).code, "webhook_invalid");
    await assertNothingCredited(env, id);
  } finally {
    await env.close();
  }
});

Deno.test("coinpay webhook - a correctly signed body that is not a valid event is refused", async () => {
  const env = await setUp();
  try {
    const id = await newDeposit(env);
    const bodies = [
      "{not json",
      "[]",
      JSON.stringify({ id: "evt_x", type: "payment.confirmed", business_id: BUSINESS_ID }),
      eventBody(id, { id: "not-an-event-id" }),
    ];
    for (const body of bodies) {
      const res = await postWebhook(env, body);
      assert.ok(res.status >= 400 && res.status < 500, `${body}: ${res.status}`);
      assert.equal(res.json.error.code, "webhook_invalid");
    }
    await assertNothingCredited(env, id);
    assert.equal((await counts(env, id)).events, 0n);
  } finally {
    await env.close();
  }
});

Deno.test("coinpay webhook - an event for another business is refused with 401", async () => {
  const env = await setUp();
  try {
    const id = await newDeposit(env);
    const res = await postWebhook(env, eventBody(id, { business_id: "biz_someone_else" }));
    assert.equal(res.status, 401);
    assert.equal(res.json.error.code, "webhook_invalid");
    await assertNothingCredited(env, id);
    assert.equal((await counts(env, id)).events, 0n);
    assert.equal(await depositStatus(env, id), "pending");
  } finally {
    await env.close();
  }
});

Deno.test("coinpay webhook - an unknown payment answers 404, and the retry after the deposit is stored credits it", async () => {
  const env = await setUp();
  try {
    // The processor created the payment, but our create call never got its answer (so no row).
    const created = await env.cp.processor.createPayment({
      amountCents: 1250,
      coin: "USDC_SOL",
      description: "lost answer",
      metadata: { api_key_id: env.keyId.toString() },
      idempotencyKey: `deposit:${env.keyId}:lost-answer`,
    });
    const result = await env.fake.confirm(created.id);
    assert.equal(result.delivered, false);
    assert.equal(result.lastStatus, 404);
    assert.equal(result.attempts, 3);
    assert.equal((await counts(env, created.id)).events, 0n, "an unknown payment's event is not recorded");
    assert.equal(await balanceUsd(env), "0");

    // The consumer retries the POST with the same Idempotency-Key: the same payment is stored.
    const id = await newDeposit(env, { "idempotency-key": "lost-answer" });
    assert.equal(id, created.id);
    assert.equal(env.fake.payments.length, 1);
    // It is stored with the processor's status; only the webhook credits it.
    assert.notEqual(await depositStatus(env, id), "credited");
    assert.equal(await balanceUsd(env), "0");

    const retry = await env.fake.redeliver(result.eventId);
    assert.equal(retry.delivered, true);
    await assertCreditedOnce(env, id);
  } finally {
    await env.close();
  }
});

Deno.test("coinpay webhook - payment.expired and payment.failed credit nothing and update the status", async () => {
  const env = await setUp();
  try {
    const expiring = await newDeposit(env);
    const failing = await newDeposit(env);
    assert.equal((await env.fake.confirm(expiring, { status: "expired" })).delivered, true);
    assert.equal((await env.fake.confirm(failing, { status: "failed" })).delivered, true);
    assert.equal(await depositStatus(env, expiring), "expired");
    assert.equal(await depositStatus(env, failing), "failed");
    assert.equal(await balanceUsd(env), "0");
    assert.equal(await accountBalance(env.cp.db.sql, PROCESSOR_CLEARING), 0n);
    const [{ n }] = await env.cp.db.sql<
      { n: bigint }[]
    >`select count(*)::bigint as n from ledger_transactions`;
    assert.equal(n, 0n);
  } finally {
    await env.close();
  }
});

Deno.test("coinpay webhook - an expired event after the credit does not take the money back", async () => {
  const env = await setUp();
  try {
    const id = await newDeposit(env);
    assert.equal((await env.fake.confirm(id)).delivered, true);
    const late = await env.fake.confirm(id, { status: "expired" });
    assert.equal(late.delivered, true);
    const failed = await postWebhook(env, eventBody(id, { status: "failed" }));
    assert.equal(failed.status, 200);
    assert.equal(failed.json.outcome, "ignored");
    await assertCreditedOnce(env, id);
    const [{ status }] = await env.cp.db.sql<
      { status: string }[]
    >`select status from payments where id = ${id}`;
    assert.equal(status, "confirmed");
  } finally {
    await env.close();
  }
});

Deno.test("coinpay webhook - a deposit is credited once a delivery gets through after the receiver was down", async () => {
  const env = await setUp();
  try {
    const id = await newDeposit(env);
    const closed = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response());
    const deadUrl = `http://127.0.0.1:${closed.addr.port}/api/webhooks/coinpay`;
    await closed.shutdown();
    env.fake.setWebhookUrl(deadUrl);
    const missed = await env.fake.confirm(id);
    assert.equal(missed.delivered, false);
    assert.equal(missed.lastStatus, null);
    assert.equal(missed.attempts, 3);
    assert.equal(await balanceUsd(env), "0");
    assert.equal(await depositStatus(env, id), "pending");

    env.fake.setWebhookUrl(`${env.url}/api/webhooks/coinpay`);
    const through = await env.fake.redeliver(missed.eventId);
    assert.equal(through.delivered, true);
    assert.equal(through.attempts, 1);
    await assertCreditedOnce(env, id);
  } finally {
    await env.close();
  }
});

testOnEachDatabase(
  "coinpay webhook - 200 concurrent deliveries of one event credit exactly once",
  async (db) => {
    const env = await setUp(db);
    try {
      const id = await newDeposit(env);
      const body = eventBody(id);
      const signature = signCoinPayWebhook(body, WEBHOOK_SECRET, nowSec());
      const results = await Promise.all(
        Array.from({ length: 200 }, () => postWebhook(env, body, signature)),
      );
      const statuses = new Set(results.map((r) => r.status));
      assert.deepEqual([...statuses], [200], JSON.stringify(results.find((r) => r.status !== 200)?.json));
      const outcomes = results.map((r) => r.json.outcome);
      assert.equal(outcomes.filter((o) => o === "credited").length, 1);
      assert.equal(outcomes.filter((o) => o === "duplicate_event").length, 199);
      await assertCreditedOnce(env, id);
      assert.equal((await counts(env, id)).events, 1n);
    } finally {
      await env.close();
    }
  },
);

/** Records the control plane's warnings (the webhook logs both amounts of a mismatched payment). */
function captureWarnings(env: Env): Array<{ msg: string; fields?: Record<string, unknown> }> {
  const seen: Array<{ msg: string; fields?: Record<string, unknown> }> = [];
  env.cp.log.warn = (msg, fields) => seen.push({ msg, fields });
  return seen;
}

for (
  const [what, paidUsd, credited] of [
    ["an underpaid", 10, "10"],
    ["an overpaid", 15.25, "15.25"],
    ["an exactly paid", 12.5, "12.5"],
  ] as const
) {
  testOnEachDatabase(
    `coinpay webhook - ${what} deposit is credited what was paid, once, however often delivered`,
    async (db) => {
      const env = await setUp(db);
      try {
        const warnings = captureWarnings(env);
        const id = await newDeposit(env);
        const sent = await env.fake.confirm(id, { amountUsd: paidUsd });
        assert.equal(sent.delivered, true);
        const [{ eventId }] = env.fake.webhookDeliveries;
        assert.equal((await env.fake.redeliver(eventId)).lastStatus, 200, "a retried delivery is accepted");
        // A later event for the same payment (forwarded) says the same; it credits nothing more.
        await env.fake.confirm(id, { status: "forwarded", amountUsd: paidUsd });

        assert.equal(await balanceUsd(env), credited);
        const paid = BigInt(Math.round(paidUsd * 100)) * 10_000_000n;
        const sql = env.cp.db.sql;
        assert.equal(await accountBalance(sql, consumerBalance(env.keyId)), paid);
        assert.equal(await accountBalance(sql, PROCESSOR_CLEARING), -paid);
        assert.equal((await counts(env, id)).credits, 1n);
        const dep = await call(env, "GET", `/api/deposits/${id}`);
        assert.equal(dep.json.status, "credited");
        assert.equal(dep.json.amount_usd, "12.5", "what was asked stays on the deposit");
        assert.equal(dep.json.paid_usd, credited);
        assert.deepEqual(await reconcile(sql), [], "the books agree with the payment row");

        const mismatch = warnings.filter((w) => w.msg.startsWith("deposit paid a different amount"));
        if (paidUsd === 12.5) assert.equal(mismatch.length, 0);
        else {
          assert.equal(mismatch.length, 1, "logged once, when credited");
          assert.equal(mismatch[0].fields?.askedUsd, "12.5");
          assert.equal(mismatch[0].fields?.paidUsd, paidUsd.toFixed(2));
          assert.equal(mismatch[0].fields?.creditedUsd, credited);
        }
      } finally {
        await env.close();
      }
    },
  );
}

Deno.test("coinpay webhook - a confirmation that says nothing was paid credits nothing and is held", async () => {
  const env = await setUp();
  try {
    const warnings = captureWarnings(env);
    const id = await newDeposit(env);
    const body = JSON.parse(eventBody(id));
    body.data.amount_usd = "0.00";
    const res = await postWebhook(env, JSON.stringify(body));
    assert.equal(res.status, 200);
    assert.equal(res.json.outcome, "held_for_review");
    await assertNothingCredited(env, id);
    assert.equal(await depositStatus(env, id), "pending");
    assert.ok(warnings.some((w) => w.msg.startsWith("deposit held for review")));
    assert.deepEqual(await reconcile(env.cp.db.sql), []);
    // The processor's corrected event (a new id) then credits what it says was paid.
    await env.fake.confirm(id, { amountUsd: 12.5 });
    await assertCreditedOnce(env, id);
  } finally {
    await env.close();
  }
});
