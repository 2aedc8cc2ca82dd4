import assert from "node:assert/strict";
import { type FakeCoinPayPortal, startFakeCoinPayPortal } from "./fake_coinpayportal.ts";
import { sleep } from "../shared/mod.ts";

const API_KEY = "cp_live_fake";
const BUSINESS_ID = "biz_fake";
const SECRET = "whsec_fake";

type Fake = FakeCoinPayPortal;

/** A webhook receiver on port 0 answering each request with the next status (last one repeats). */
function startReceiver(statuses: number[]) {
  const got: Array<{ body: string; signature: string | null }> = [];
  let waiting: (() => void) | null = null;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    got.push({ body: await req.text(), signature: req.headers.get("x-coinpay-signature") });
    waiting?.();
    return new Response(null, { status: statuses[Math.min(got.length - 1, statuses.length - 1)] });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    got,
    next: () => new Promise<void>((resolve) => (waiting = resolve)),
    close: () => server.shutdown(),
  };
}

function post(fake: Fake, path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(fake.url + path, {
    method: "POST",
    headers: { "Authorization": `Bearer ${API_KEY}`, "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function createPayment(fake: Fake, over: Record<string, unknown> = {}, headers = {}) {
  const res = await post(fake, "/api/payments/create", {
    business_id: BUSINESS_ID,
    amount_usd: 20,
    currency: "USD",
    blockchain: "ETH",
    description: "test",
    metadata: { deposit_id: "d1" },
    ...over,
  }, headers);
  return { status: res.status, json: await res.json() };
}

async function hmacHex(secret: string, message: string): Promise<string> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    enc.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    [
      "sign",
    ],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(message)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

function start(opts: Partial<Parameters<typeof startFakeCoinPayPortal>[0]> = {}) {
  return startFakeCoinPayPortal({
    apiKey: API_KEY,
    businessId: BUSINESS_ID,
    webhookSecret: SECRET,
    retryDelaysMs: [10, 20],
    ...opts,
  });
}

Deno.test("fake coinpayportal - a receiver failing twice gets 3 signed deliveries of the same event", async () => {
  const receiver = startReceiver([500, 502, 200]);
  const fake = await start({ webhookUrl: receiver.url });
  try {
    const { json } = await createPayment(fake);
    const result = await fake.confirm(json.payment.id);
    assert.deepEqual(result, { eventId: result.eventId, delivered: true, attempts: 3, lastStatus: 200 });
    assert.match(result.eventId, /^evt_[0-9a-f]+$/);
    assert.deepEqual(fake.webhookDeliveries.map((d) => [d.eventId, d.attempt, d.status]), [
      [result.eventId, 1, 500],
      [result.eventId, 2, 502],
      [result.eventId, 3, 200],
    ]);
    assert.equal(receiver.got.length, 3);
    for (const { body, signature } of receiver.got) {
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature ?? "");
      assert.ok(m, `signature header ${signature}`);
      assert.ok(Math.abs(Number(m[1]) - Date.now() / 1000) < 5);
      assert.equal(m[2], await hmacHex(SECRET, `${m[1]}.${body}`));
      const event = JSON.parse(body);
      assert.equal(event.id, result.eventId);
      assert.equal(event.type, "payment.confirmed");
      assert.equal(event.business_id, BUSINESS_ID);
      assert.equal(event.data.payment_id, json.payment.id);
      assert.equal(event.data.status, "confirmed");
      assert.equal(event.data.amount_usd, "20.00");
      assert.equal(event.data.payment_address, json.payment.payment_address);
      assert.deepEqual(event.data.metadata, { deposit_id: "d1" });
      assert.match(event.data.tx_hash, /^0x[0-9a-f]{64}$/);
    }
    assert.equal(fake.payments[0].status, "confirmed");
  } finally {
    await fake.close();
    await receiver.close();
  }
});

Deno.test("fake coinpayportal - gives up after 3 attempts and records unreachable receivers", async () => {
  const receiver = startReceiver([503]);
  const fake = await start({ webhookUrl: receiver.url });
  try {
    const { json } = await createPayment(fake);
    const failed = await fake.confirm(json.payment.id, { status: "expired" });
    assert.deepEqual(failed, { eventId: failed.eventId, delivered: false, attempts: 3, lastStatus: 503 });
    const event = JSON.parse(receiver.got[0].body);
    assert.equal(event.type, "payment.expired");
    assert.equal(event.data.tx_hash, null);
    await receiver.close();
    const unreachable = await fake.redeliver(failed.eventId);
    assert.equal(unreachable.delivered, false);
    assert.equal(unreachable.attempts, 3);
    assert.deepEqual(fake.webhookDeliveries.slice(3).map((d) => d.status), [null, null, null]);
    assert.ok(fake.webhookDeliveries.slice(3).every((d) => d.error));
  } finally {
    await fake.close();
    await receiver.close();
  }
});

Deno.test("fake coinpayportal - redeliver sends the same event id again", async () => {
  const receiver = startReceiver([200]);
  const fake = await start({ webhookUrl: receiver.url });
  try {
    const { json } = await createPayment(fake);
    const first = await fake.confirm(json.payment.id, { amountUsd: 19.99 });
    const again = await fake.redeliver(first.eventId);
    assert.equal(again.eventId, first.eventId);
    assert.equal(again.delivered, true);
    assert.equal(receiver.got.length, 2);
    assert.equal(receiver.got[0].body, receiver.got[1].body);
    assert.equal(JSON.parse(receiver.got[1].body).data.amount_usd, "19.99");
    await assert.rejects(fake.redeliver("evt_unknown"), /no event/);
    await assert.rejects(fake.confirm("no-such-payment"), /no payment/);
  } finally {
    await fake.close();
    await receiver.close();
  }
});

Deno.test("fake coinpayportal - without a webhook URL confirm records the event but sends nothing", async () => {
  const fake = await start();
  try {
    const { json } = await createPayment(fake);
    const result = await fake.confirm(json.payment.id);
    assert.equal(result.attempts, 0);
    assert.equal(result.delivered, false);
    assert.equal(fake.payments[0].status, "confirmed");
    const receiver = startReceiver([200]);
    try {
      fake.setWebhookUrl(receiver.url);
      assert.equal((await fake.redeliver(result.eventId)).delivered, true);
    } finally {
      await receiver.close();
    }
  } finally {
    await fake.close();
  }
});

Deno.test("fake coinpayportal - autoConfirmMs confirms each new payment once", async () => {
  const receiver = startReceiver([200]);
  const fake = await start({ webhookUrl: receiver.url, autoConfirmMs: 20 });
  try {
    const arrived = receiver.next();
    const { json } = await createPayment(fake, {}, { "Idempotency-Key": "k1" });
    await createPayment(fake, {}, { "Idempotency-Key": "k1" });
    await arrived;
    await sleep(60);
    assert.equal(receiver.got.length, 1);
    const event = JSON.parse(receiver.got[0].body);
    assert.equal(event.type, "payment.confirmed");
    assert.equal(event.data.payment_id, json.payment.id);
    assert.equal(fake.payments[0].status, "confirmed");
  } finally {
    await fake.close();
    await receiver.close();
  }
});

Deno.test("fake coinpayportal - close cancels pending auto-confirmations", async () => {
  const receiver = startReceiver([200]);
  const fake = await start({ webhookUrl: receiver.url, autoConfirmMs: 10_000 });
  await createPayment(fake);
  await fake.close();
  await receiver.close();
  assert.equal(receiver.got.length, 0);
});

Deno.test("fake coinpayportal - checks the key, the business and the body like the real API", async () => {
  const fake = await start();
  try {
    const noKey = await fetch(fake.url + "/api/payments/create", { method: "POST", body: "{}" });
    assert.deepEqual([noKey.status, await noKey.json()], [401, {
      success: false,
      error: "Authentication required",
    }]);
    const wrongKey = await post(fake, "/api/payments/create", {}, { "Authorization": "Bearer nope" });
    assert.deepEqual([wrongKey.status, await wrongKey.json()], [401, {
      success: false,
      error: "Invalid API key",
    }]);
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ business_id: "biz_other" }, 403, /business_id/],
      [{ amount_usd: 0 }, 400, /amount/],
      [{ amount_usd: "10" }, 400, /amount/],
      [{ currency: "EUR" }, 400, /USD/],
      [{ blockchain: "XYZ" }, 400, /cryptocurrency type/],
      [{ blockchain: undefined }, 400, /cryptocurrency type/],
    ];
    for (const [over, status, error] of cases) {
      const res = await createPayment(fake, over);
      assert.equal(res.status, status, JSON.stringify(over));
      assert.equal(res.json.success, false);
      assert.match(res.json.error, error);
    }
    const bad = await post(fake, "/api/payments/create", "{nope");
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error, "Invalid JSON body");
    const missing = await post(fake, "/api/nothing", {});
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    assert.equal(fake.payments.length, 0);
  } finally {
    await fake.close();
  }
});

Deno.test("fake coinpayportal - creates documented payments with chain-shaped addresses, idempotently", async () => {
  const fake = await start();
  try {
    const shapes: Record<string, RegExp> = {
      BTC: /^bc1q[02-9ac-hj-np-z]{38}$/,
      ETH: /^0x[0-9a-fA-F]{40}$/,
      USDC_POL: /^0x[0-9a-fA-F]{40}$/,
      SOL: /^[1-9A-HJ-NP-Za-km-z]{32,44}$/,
      DOGE: /^D[1-9A-HJ-NP-Za-km-z]{33}$/,
      XRP: /^r[1-9A-HJ-NP-Za-km-z]{24,34}$/,
      ADA: /^addr1[02-9ac-hj-np-z]+$/,
    };
    for (const [coin, shape] of Object.entries(shapes)) {
      const { status, json } = await createPayment(fake, { blockchain: coin, amount_usd: 10.5 });
      assert.equal(status, 201);
      assert.equal(json.success, true);
      const p = json.payment;
      assert.match(p.payment_address, shape, coin);
      assert.equal(typeof p.id, "string");
      assert.equal(p.status, "pending");
      assert.match(p.qr_code, /^data:image\/svg\+xml;base64,/);
      assert.ok(Number(p.crypto_amount) > 0);
      assert.ok(Math.abs(Date.parse(p.expires_at) - Date.now() - 3_600_000) < 10_000);
    }
    const btc = fake.payments[0];
    assert.equal(btc.cryptoAmount, 0.000105);
    const a = await createPayment(fake, {}, { "Idempotency-Key": "same" });
    const b = await createPayment(fake, {}, { "Idempotency-Key": "same" });
    assert.equal(b.status, 201);
    assert.equal(a.json.payment.id, b.json.payment.id);
    assert.equal(fake.payments.length, Object.keys(shapes).length + 1);
  } finally {
    await fake.close();
  }
});

Deno.test("fake coinpayportal - records payouts once per key and fails them on request", async () => {
  const fake = await start();
  try {
    const path = `/api/businesses/${BUSINESS_ID}/payouts`;
    const body = { recipient_wallet: "So1anaWa11et", cryptocurrency: "SOL", amount_usd: 12.34 };
    const key = { "Idempotency-Key": "payout:1" };
    fake.failNextPayouts(2, 503);
    for (let i = 0; i < 2; i++) {
      const res = await post(fake, path, body, key);
      assert.equal(res.status, 503);
      assert.equal((await res.json()).success, false);
    }
    const first = await (await post(fake, path, body, key)).json();
    const second = await (await post(fake, path, body, key)).json();
    assert.equal(first.success, true);
    assert.equal(first.payout.status, "completed");
    assert.equal(typeof first.payout.tx_hash, "string");
    assert.deepEqual(second, first);
    assert.equal(fake.payouts.length, 1);
    assert.equal(fake.payouts[0].amountUsd, 12.34);
    const other = await post(fake, "/api/businesses/biz_other/payouts", body);
    assert.equal(other.status, 403);
    await other.body?.cancel();
    const invalid = await post(fake, path, { ...body, cryptocurrency: "XYZ" });
    assert.equal(invalid.status, 400);
    await invalid.body?.cancel();
  } finally {
    await fake.close();
  }
});

Deno.test("fake coinpayportal - answers a payout's status as CoinPayPortal's PayoutRecord, 404 when unknown", async () => {
  const fake = await start();
  try {
    const path = `/api/businesses/${BUSINESS_ID}/payouts`;
    fake.setPayoutStatus("processing");
    const made = await (await post(fake, path, {
      recipient_wallet: "So1anaWa11et",
      cryptocurrency: "SOL",
      amount_usd: 20,
    }, { "Idempotency-Key": "payout:9" })).json();
    const read = (id: string, headers: Record<string, string> = { "Authorization": `Bearer ${API_KEY}` }) =>
      fetch(`${fake.url}${path}/${id}`, { headers });
    const res = await read(made.payout.id);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.success, true);
    assert.deepEqual(Object.keys(body.payout).sort(), [
      "amount_crypto",
      "amount_usd",
      "business_id",
      "completed_at",
      "created_at",
      "cryptocurrency",
      "error_message",
      "id",
      "metadata",
      "recipient_wallet",
      "status",
      "tx_hash",
    ]);
    assert.deepEqual([body.payout.status, body.payout.tx_hash, body.payout.amount_crypto], [
      "processing",
      null,
      0.1,
    ]);
    fake.finishPayout(made.payout.id, { status: "failed", error: "Insufficient balance" });
    const failed = (await (await read(made.payout.id)).json()).payout;
    assert.deepEqual([failed.status, failed.error_message], ["failed", "Insufficient balance"]);

    const unknown = await read("nope");
    assert.deepEqual([unknown.status, await unknown.json()], [404, {
      success: false,
      error: "Payout not found",
    }]);
    const noKey = await read(made.payout.id, {});
    assert.equal(noKey.status, 401);
    await noKey.body?.cancel();
    const other = await fetch(`${fake.url}/api/businesses/biz_other/payouts/${made.payout.id}`, {
      headers: { "Authorization": `Bearer ${API_KEY}` },
    });
    assert.equal(other.status, 404);
    await other.body?.cancel();
    const posted = await post(fake, `${path}/${made.payout.id}`, {});
    assert.equal(posted.status, 405);
    await posted.body?.cancel();
    assert.deepEqual(fake.payoutReads, [made.payout.id, made.payout.id, "nope"]);
  } finally {
    await fake.close();
  }
});
