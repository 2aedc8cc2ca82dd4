import assert from "node:assert/strict";
import { startFakeCoinPayPortal } from "../../testing/fake_coinpayportal.ts";
import { CoinPayPortal, usdFromCents } from "./coinpayportal.ts";
import { ProcessorError } from "./processor.ts";
import { verifyCoinPayWebhook } from "./webhook.ts";

const API_KEY = "cp_live_test_key";
const BUSINESS_ID = "biz_test";
const SECRET = "whsec_test";

async function withFake(
  fn: (
    fake: Awaited<ReturnType<typeof startFakeCoinPayPortal>>,
    cpp: CoinPayPortal,
  ) => Promise<void>,
  apiKey = API_KEY,
) {
  const fake = await startFakeCoinPayPortal({
    apiKey: API_KEY,
    businessId: BUSINESS_ID,
    webhookSecret: SECRET,
  });
  try {
    await fn(fake, new CoinPayPortal({ baseUrl: fake.url, apiKey, businessId: BUSINESS_ID }));
  } finally {
    await fake.close();
  }
}

const payment = (over: Partial<Parameters<CoinPayPortal["createPayment"]>[0]> = {}) => ({
  amountCents: 1050,
  coin: "BTC" as const,
  description: "Infernet deposit",
  metadata: { deposit_id: "dep_1" },
  redirectUrl: "https://infernet.example/deposits/dep_1",
  idempotencyKey: "deposit:dep_1",
  ...over,
});

async function rejectsWith(p: Promise<unknown>): Promise<ProcessorError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ProcessorError, `expected ProcessorError, got ${err}`);
    return err;
  }
  assert.fail("expected a rejection");
}

Deno.test("coinpayportal - creates a payment and maps the documented fields", async () => {
  await withFake(async (fake, cpp) => {
    const before = Date.now();
    const p = await cpp.createPayment(payment());
    assert.equal(fake.payments.length, 1);
    const seen = fake.payments[0];
    assert.equal(p.id, seen.id);
    assert.equal(p.paymentAddress, seen.paymentAddress);
    assert.match(p.paymentAddress, /^bc1q/);
    assert.equal(p.cryptoAmount, "0.000105");
    assert.match(p.qrCode, /^data:image\/svg\+xml;base64,/);
    assert.equal(p.status, "pending");
    assert.ok(p.expiresAt instanceof Date);
    assert.ok(Math.abs(p.expiresAt.getTime() - (before + 3_600_000)) < 10_000);
    const wire = JSON.parse(seen.rawBody);
    assert.deepEqual(wire, {
      business_id: BUSINESS_ID,
      amount_usd: 10.5,
      currency: "USD",
      blockchain: "BTC",
      description: "Infernet deposit",
      metadata: { deposit_id: "dep_1" },
      redirect_url: "https://infernet.example/deposits/dep_1",
    });
    assert.equal(seen.idempotencyKey, "deposit:dep_1");
  });
});

Deno.test("coinpayportal - a retried create with the same idempotency key returns the same payment", async () => {
  await withFake(async (fake, cpp) => {
    const a = await cpp.createPayment(payment());
    const b = await cpp.createPayment(payment());
    const c = await cpp.createPayment(payment({ idempotencyKey: "deposit:dep_2" }));
    assert.equal(a.id, b.id);
    assert.equal(a.paymentAddress, b.paymentAddress);
    assert.notEqual(a.id, c.id);
    assert.equal(fake.payments.length, 2);
  });
});

Deno.test("coinpayportal - sends cents as exact dollars: 1050 is 10.5 and 1 is 0.01", async () => {
  await withFake(async (fake, cpp) => {
    await cpp.createPayment(payment({ amountCents: 1050, idempotencyKey: "a" }));
    await cpp.createPayment(payment({ amountCents: 1, idempotencyKey: "b" }));
    await cpp.createPayment(payment({ amountCents: 29, idempotencyKey: "c" }));
    assert.deepEqual(fake.payments.map((p) => p.amountUsd), [10.5, 0.01, 0.29]);
    assert.match(fake.payments[0].rawBody, /"amount_usd":10\.5,/);
    assert.match(fake.payments[1].rawBody, /"amount_usd":0\.01,/);
    assert.match(fake.payments[2].rawBody, /"amount_usd":0\.29,/);
  });
  assert.equal(usdFromCents(1_000_000_007), 10_000_000.07);
  for (const bad of [0, -1, 1.5, NaN]) {
    assert.throws(() => usdFromCents(bad), (e) => e instanceof ProcessorError && e.code === "invalid_amount");
  }
});

Deno.test("coinpayportal - a wrong API key is a non-retryable error carrying the processor's message", async () => {
  await withFake(async (fake, cpp) => {
    const err = await rejectsWith(cpp.createPayment(payment()));
    assert.equal(err.code, "processor_rejected");
    assert.equal(err.status, 401);
    assert.equal(err.retryable, false);
    assert.match(err.message, /Invalid API key/);
    assert.equal(fake.payments.length, 0);
  }, "cp_live_wrong");
});

Deno.test("coinpayportal - the processor's validation error text reaches the caller", async () => {
  await withFake(async (_fake, cpp) => {
    const err = await rejectsWith(cpp.createPayment(payment({ coin: "NOPE" as "BTC" })));
    assert.equal(err.status, 400);
    assert.equal(err.retryable, false);
    assert.match(err.message, /cryptocurrency type/);
  });
});

Deno.test("coinpayportal - an injected 500 on payout is retryable and the retry pays once", async () => {
  await withFake(async (fake, cpp) => {
    fake.failNextPayouts(1);
    const req = {
      recipientWallet: "0x52908400098527886E0F7030069857D2E4169EE7",
      coin: "USDC_BASE" as const,
      amountCents: 2500,
      idempotencyKey: "payout:42",
    };
    const err = await rejectsWith(cpp.createPayout(req));
    assert.equal(err.code, "processor_error");
    assert.equal(err.status, 500);
    assert.equal(err.retryable, true);
    assert.equal(fake.payouts.length, 0);
    const a = await cpp.createPayout(req);
    const b = await cpp.createPayout(req);
    assert.equal(a.status, "completed");
    assert.match(a.txHash ?? "", /^0x[0-9a-f]{64}$/);
    assert.deepEqual(b, a);
    assert.equal(fake.payouts.length, 1);
    assert.deepEqual(JSON.parse(fake.payouts[0].rawBody), {
      recipient_wallet: req.recipientWallet,
      cryptocurrency: "USDC_BASE",
      amount_usd: 25,
    });
  });
});

Deno.test("coinpayportal - 429 is retryable", async () => {
  await withFake(async (fake, cpp) => {
    fake.failNextPayouts(1, 429);
    const err = await rejectsWith(
      cpp.createPayout({ recipientWallet: "w", coin: "SOL", amountCents: 100, idempotencyKey: "k" }),
    );
    assert.equal(err.code, "processor_rate_limited");
    assert.equal(err.retryable, true);
  });
});

Deno.test("coinpayportal - an unreachable processor is a retryable processor_unreachable", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const cpp = new CoinPayPortal({
    baseUrl: `http://127.0.0.1:${port}`,
    apiKey: API_KEY,
    businessId: BUSINESS_ID,
  });
  const err = await rejectsWith(cpp.createPayment(payment()));
  assert.equal(err.code, "processor_unreachable");
  assert.equal(err.retryable, true);
});

Deno.test("coinpayportal - a processor that does not answer in time is processor_unreachable", async () => {
  const hang = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, signal: hang.signal },
    (req) =>
      new Promise<Response>((resolve) => {
        req.signal.addEventListener("abort", () => resolve(new Response(null, { status: 499 })));
      }),
  );
  try {
    const cpp = new CoinPayPortal({
      baseUrl: `http://127.0.0.1:${server.addr.port}`,
      apiKey: API_KEY,
      businessId: BUSINESS_ID,
      timeoutMs: 50,
    });
    const err = await rejectsWith(cpp.createPayment(payment()));
    assert.equal(err.code, "processor_unreachable");
    assert.equal(err.retryable, true);
    assert.match(err.message, /timed out after 50 ms/);
  } finally {
    hang.abort();
    await server.finished;
  }
});

Deno.test("coinpayportal - a malformed 2xx body is processor_bad_response", async () => {
  const bodies = [
    "<html>ok</html>",
    JSON.stringify({ success: false }),
    JSON.stringify({ success: true }),
    JSON.stringify({
      success: true,
      payment: { id: "x", payment_address: "a", crypto_amount: "1", qr_code: "" },
    }),
    JSON.stringify({
      success: true,
      payment: {
        id: "x",
        payment_address: "a",
        crypto_amount: "lots",
        qr_code: "",
        status: "pending",
        expires_at: "",
      },
    }),
  ];
  for (const body of bodies) {
    const cpp = new CoinPayPortal({
      baseUrl: "http://processor.invalid",
      apiKey: API_KEY,
      businessId: BUSINESS_ID,
      fetch: () => Promise.resolve(new Response(body, { status: 201 })),
    });
    const err = await rejectsWith(cpp.createPayment(payment()));
    assert.equal(err.code, "processor_bad_response", body);
    assert.equal(err.status, 201);
  }
  const cpp = new CoinPayPortal({
    baseUrl: "http://processor.invalid/",
    apiKey: API_KEY,
    businessId: BUSINESS_ID,
    fetch: () =>
      Promise.resolve(Response.json({ success: true, payout: { id: "p", status: "sent" } }, { status: 201 })),
  });
  const err = await rejectsWith(
    cpp.createPayout({ recipientWallet: "w", coin: "SOL", amountCents: 100, idempotencyKey: "k" }),
  );
  assert.equal(err.code, "processor_bad_response");
});

Deno.test("coinpayportal - the fake's signed webhook passes verification end to end", async () => {
  const received: Array<{ body: Uint8Array; header: string | null }> = [];
  const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    received.push({
      body: new Uint8Array(await req.arrayBuffer()),
      header: req.headers.get("X-CoinPay-Signature"),
    });
    return new Response("ok");
  });
  try {
    await withFake(async (fake, cpp) => {
      fake.setWebhookUrl(`http://127.0.0.1:${receiver.addr.port}/webhooks/coinpay`);
      const p = await cpp.createPayment(payment());
      const result = await fake.confirm(p.id);
      assert.equal(result.delivered, true);
      assert.equal(received.length, 1);
      const res = verifyCoinPayWebhook(received[0].body, received[0].header, SECRET);
      assert.ok(res.ok, res.ok ? "" : res.reason);
      assert.equal(res.event.id, result.eventId);
      assert.equal(res.event.type, "payment.confirmed");
      assert.equal(res.event.paymentId, p.id);
      assert.equal(res.event.amountUsd, "10.50");
      assert.equal(res.event.amountCrypto, p.cryptoAmount);
      assert.equal(res.event.paymentAddress, p.paymentAddress);
      assert.equal(res.event.businessId, BUSINESS_ID);
      assert.deepEqual(res.event.metadata, { deposit_id: "dep_1" });
      assert.equal(verifyCoinPayWebhook(received[0].body, received[0].header, "other-secret").ok, false);
    });
  } finally {
    await receiver.shutdown();
  }
});

Deno.test("coinpayportal - a payout in progress is read until final: paid with a tx hash, or failed with a reason", async () => {
  await withFake(async (fake, cpp) => {
    fake.setPayoutStatus("processing");
    const req = { recipientWallet: "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", coin: "BTC" as const };
    const a = await cpp.createPayout({ ...req, amountCents: 1000, idempotencyKey: "payout:1" });
    const b = await cpp.createPayout({ ...req, amountCents: 2000, idempotencyKey: "payout:2" });
    assert.deepEqual({ ...a, id: "" }, { id: "", status: "pending", txHash: null, error: null });
    assert.deepEqual(await cpp.getPayout(a.id), a);

    fake.finishPayout(a.id, { status: "completed" });
    fake.finishPayout(b.id, { status: "failed", error: "Insufficient balance" });
    const paid = await cpp.getPayout(a.id);
    assert.equal(paid.status, "completed");
    assert.equal(paid.txHash, fake.payouts[0].txHash);
    assert.match(paid.txHash ?? "", /^[0-9a-f]{64}$/);
    assert.deepEqual(await cpp.getPayout(b.id), {
      id: b.id,
      status: "failed",
      txHash: null,
      error: "Insufficient balance",
    });
    assert.deepEqual(fake.payoutReads, [a.id, a.id, b.id]);
  });
});

Deno.test("coinpayportal - an unknown payout's read is a 404 refusal, an outage a retryable error", async () => {
  await withFake(async (fake, cpp) => {
    const unknown = await rejectsWith(cpp.getPayout("no-such-payout"));
    assert.equal(unknown.code, "processor_rejected");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.retryable, false);
    fake.failNextPayoutReads(1, 503);
    const down = await rejectsWith(cpp.getPayout("no-such-payout"));
    assert.equal(down.code, "processor_error");
    assert.equal(down.retryable, true);
  });
});

Deno.test("coinpayportal - a payout read is a GET without a body, and every CoinPayPortal status maps", async () => {
  const seen: Request[] = [];
  let status = "";
  const cpp = new CoinPayPortal({
    baseUrl: "https://processor.example/",
    apiKey: API_KEY,
    businessId: "biz/1",
    fetch: (input, init) => {
      seen.push(new Request(input, init));
      return Promise.resolve(
        Response.json({ success: true, payout: { id: "po 1", status, tx_hash: null, error_message: null } }),
      );
    },
  });
  const mapped: Record<string, string> = {};
  for (status of ["pending", "processing", "indeterminate", "completed", "failed"]) {
    mapped[status] = (await cpp.getPayout("po 1")).status;
  }
  assert.deepEqual(mapped, {
    pending: "pending",
    processing: "pending",
    indeterminate: "pending",
    completed: "completed",
    failed: "failed",
  });
  assert.equal(seen[0].method, "GET");
  assert.equal(seen[0].url, "https://processor.example/api/businesses/biz%2F1/payouts/po%201");
  assert.equal(seen[0].headers.get("authorization"), `Bearer ${API_KEY}`);
  assert.equal(seen[0].headers.get("idempotency-key"), null);
  assert.equal(seen[0].body, null);
  status = "refunded";
  assert.equal((await rejectsWith(cpp.getPayout("po 1"))).code, "processor_bad_response");
});
