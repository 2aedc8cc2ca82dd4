// TEST DOUBLE — a fake CoinPayPortal server for tests and the local dev network. It moves no money
// and talks to no chain. It follows the documented API (DESIGN.md "Money"): Bearer key, payment
// create and payouts with `{success:false, error}` errors and `Idempotency-Key`, a payout's status
// (`GET /api/businesses/{id}/payouts/{payout_id}`, as CoinPayPortal's own route answers it: its
// `PayoutRecord`, 404 when unknown), and webhooks
// signed `X-CoinPay-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, delivered up to
// 3 times. Addresses, rates, QR codes and tx hashes are made up (plausibly shaped per chain).
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, concatBytes, randomBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import { base58, base58xrp, bech32, createBase58check } from "@scure/base";
import { chainOf, type Coin, isCoin } from "../shared/payments/coins.ts";
import { isRecord, sleep } from "../shared/mod.ts";

/** Options for `startFakeCoinPayPortal`. */
export interface FakeCoinPayPortalOptions {
  apiKey: string;
  businessId: string;
  webhookSecret: string;
  /** Where signed webhooks go; null or absent: none are sent (events are still recorded). */
  webhookUrl?: string | null;
  /** Confirm each new payment this many ms after creation (dev network: nobody sends real coins). */
  autoConfirmMs?: number | null;
  /** Waits between the 3 delivery attempts; default [100, 500]. */
  retryDelaysMs?: number[];
}

/** A payment the fake created (its record, camelCase). */
export interface FakePayment {
  id: string;
  businessId: string;
  amountUsd: number;
  blockchain: Coin;
  description: string | null;
  metadata: Record<string, unknown>;
  redirectUrl: string | null;
  paymentAddress: string;
  cryptoAmount: number;
  qrCode: string;
  status: string;
  createdAt: Date;
  expiresAt: Date;
  idempotencyKey: string | null;
  /** The request body exactly as received. */
  rawBody: string;
}

/** A payout's status at CoinPayPortal (`PayoutRecord.status`; `indeterminate` waits for a person). */
export type FakePayoutStatus = "pending" | "processing" | "indeterminate" | "completed" | "failed";

/** A payout the fake recorded. */
export interface FakePayout {
  id: string;
  recipientWallet: string;
  cryptocurrency: Coin;
  amountUsd: number;
  status: FakePayoutStatus;
  txHash: string | null;
  errorMessage: string | null;
  createdAt: Date;
  completedAt: Date | null;
  idempotencyKey: string | null;
  rawBody: string;
}

/** One webhook delivery attempt. */
export interface FakeWebhookDelivery {
  eventId: string;
  type: string;
  attempt: number;
  url: string;
  /** The receiver's HTTP status, or null when it was unreachable. */
  status: number | null;
  error: string | null;
  body: string;
  signature: string;
  at: Date;
}

/** The outcome of sending one event (all its attempts). */
export interface WebhookDeliveryResult {
  eventId: string;
  delivered: boolean;
  attempts: number;
  lastStatus: number | null;
}

/** Options for `confirm`: the final status (default "confirmed") and an under/over-payment. */
export interface FakeConfirmOptions {
  status?: "confirmed" | "forwarded" | "expired" | "failed";
  amountUsd?: number;
}

/** A running fake CoinPayPortal; the arrays are live records, for assertions. */
export interface FakeCoinPayPortal {
  url: string;
  payments: readonly FakePayment[];
  payouts: readonly FakePayout[];
  webhookDeliveries: readonly FakeWebhookDelivery[];
  setWebhookUrl(url: string | null): void;
  /** Moves a payment to a final status and sends its signed webhook (with retries). */
  confirm(paymentId: string, opts?: FakeConfirmOptions): Promise<WebhookDeliveryResult>;
  /** Sends an already-sent event again, same id (as CoinPayPortal's retries do). */
  redeliver(eventId: string): Promise<WebhookDeliveryResult>;
  /** The next `n` payout calls answer `status` (default 500) and record nothing. */
  failNextPayouts(n: number, status?: number): void;
  /** What new payouts answer: `completed` at once (the default), or still `processing`. */
  setPayoutStatus(status: "completed" | "processing"): void;
  /** Ends a payout still in progress: paid (a tx hash is made up) or failed with a reason. */
  finishPayout(
    id: string,
    outcome: { status: "completed" } | { status: "failed"; error: string },
  ): FakePayout;
  /** The payout ids whose status was read, in order. */
  payoutReads: readonly string[];
  /** The next `n` payout status reads answer `status` (default 503). */
  failNextPayoutReads(n: number, status?: number): void;
  close(): Promise<void>;
}

const MAX_ATTEMPTS = 3;
const MAX_AMOUNT_USD = 1_000_000;
const PAYMENT_TTL_MS = 60 * 60 * 1000;
const DELIVERY_TIMEOUT_MS = 5_000;
const FEE_RATE = 0.01;

/** Made-up USD price of one unit of each coin, and the decimals quoted. */
const RATES: Record<Coin, { usd: number; decimals: number }> = {
  BTC: { usd: 100_000, decimals: 8 },
  ETH: { usd: 4_000, decimals: 8 },
  SOL: { usd: 200, decimals: 9 },
  POL: { usd: 0.5, decimals: 6 },
  BNB: { usd: 600, decimals: 8 },
  XRP: { usd: 2.5, decimals: 6 },
  ADA: { usd: 1, decimals: 6 },
  DOGE: { usd: 0.25, decimals: 8 },
  USDC_ETH: { usd: 1, decimals: 6 },
  USDC_SOL: { usd: 1, decimals: 6 },
  USDC_POL: { usd: 1, decimals: 6 },
  USDC_BASE: { usd: 1, decimals: 6 },
  USDT_ETH: { usd: 1, decimals: 6 },
  USDT_SOL: { usd: 1, decimals: 6 },
  USDT_POL: { usd: 1, decimals: 6 },
};

/** Starts the fake on 127.0.0.1 (ephemeral port). */
export function startFakeCoinPayPortal(opts: FakeCoinPayPortalOptions): Promise<FakeCoinPayPortal> {
  const retryDelaysMs = [...(opts.retryDelaysMs ?? [100, 500])];
  let webhookUrl = opts.webhookUrl ?? null;
  const payments: FakePayment[] = [];
  const payouts: FakePayout[] = [];
  const deliveries: FakeWebhookDelivery[] = [];
  const paymentsByKey = new Map<string, FakePayment>();
  const payoutsByKey = new Map<string, FakePayout>();
  const events = new Map<string, { type: string; body: string }>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const inFlight = new Set<Promise<unknown>>();
  const closing = new AbortController();
  let failPayouts = { left: 0, status: 500 };
  let failPayoutReads = { left: 0, status: 503 };
  let newPayoutStatus: "completed" | "processing" = "completed";
  const payoutReads: string[] = [];

  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    p.finally(() => inFlight.delete(p)).catch(() => {});
    return p;
  };

  async function deliver(eventId: string): Promise<WebhookDeliveryResult> {
    const event = events.get(eventId);
    if (!event) throw new Error(`fake CoinPayPortal: no event ${eventId}`);
    let attempts = 0;
    let lastStatus: number | null = null;
    while (webhookUrl && attempts < MAX_ATTEMPTS && !closing.signal.aborted) {
      if (attempts > 0) {
        await sleep(retryDelaysMs[attempts - 1] ?? retryDelaysMs.at(-1) ?? 0, { signal: closing.signal })
          .catch(() => {});
      }
      if (closing.signal.aborted) break;
      attempts++;
      const url = webhookUrl;
      // Each attempt is signed afresh, so a late retry still passes the 300 s window.
      const signature = signWebhook(event.body, opts.webhookSecret, Math.floor(Date.now() / 1000));
      const record: FakeWebhookDelivery = {
        eventId,
        type: event.type,
        attempt: attempts,
        url,
        status: null,
        error: null,
        body: event.body,
        signature,
        at: new Date(),
      };
      deliveries.push(record);
      const ctrl = new AbortController();
      const onClose = () => ctrl.abort();
      closing.signal.addEventListener("abort", onClose);
      const timer = setTimeout(() => ctrl.abort(), DELIVERY_TIMEOUT_MS);
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: {
            "Content-Type": "application/json",
            "X-CoinPay-Signature": signature,
            "User-Agent": "CoinPay-Webhook/1.0",
          },
          body: event.body,
          signal: ctrl.signal,
        });
        await res.body?.cancel();
        record.status = lastStatus = res.status;
        if (res.ok) return { eventId, delivered: true, attempts, lastStatus };
        record.error = `HTTP ${res.status}`;
      } catch (err) {
        record.error = err instanceof Error ? err.message : String(err);
        lastStatus = null;
      } finally {
        clearTimeout(timer);
        closing.signal.removeEventListener("abort", onClose);
      }
    }
    return { eventId, delivered: false, attempts, lastStatus };
  }

  function confirm(paymentId: string, copts: FakeConfirmOptions = {}): Promise<WebhookDeliveryResult> {
    const payment = payments.find((p) => p.id === paymentId);
    if (!payment) return Promise.reject(new Error(`fake CoinPayPortal: no payment ${paymentId}`));
    const status = copts.status ?? "confirmed";
    payment.status = status;
    const paid = status === "confirmed" || status === "forwarded";
    const rate = RATES[payment.blockchain];
    const amountUsd = copts.amountUsd ?? payment.amountUsd;
    const amountCrypto = amountUsd / rate.usd;
    const event = {
      id: `evt_${bytesToHex(randomBytes(12))}`,
      type: `payment.${status}`,
      data: {
        payment_id: payment.id,
        status,
        amount_usd: amountUsd.toFixed(2),
        amount_crypto: fixed(amountCrypto, rate.decimals),
        currency: payment.blockchain,
        confirmations: paid ? 6 : 0,
        payment_address: payment.paymentAddress,
        tx_hash: paid ? txHashFor(payment.blockchain) : null,
        merchant_amount: paid ? fixed(amountCrypto * (1 - FEE_RATE), rate.decimals) : null,
        platform_fee: paid ? fixed(amountCrypto * FEE_RATE, rate.decimals) : null,
        metadata: payment.metadata,
      },
      created_at: new Date().toISOString(),
      business_id: opts.businessId,
    };
    events.set(event.id, { type: event.type, body: JSON.stringify(event) });
    return track(deliver(event.id));
  }

  function createPayment(body: Record<string, unknown>, key: string | null, raw: string): Response {
    if (body.business_id !== undefined && body.business_id !== opts.businessId) {
      return fail(403, "business_id does not match API key scope");
    }
    const amount = body.amount_usd;
    if (typeof amount !== "number" || !Number.isFinite(amount) || amount <= 0) {
      return fail(400, "Invalid or missing payment amount");
    }
    if (amount > MAX_AMOUNT_USD) return fail(400, "Payment amount exceeds the maximum of 1,000,000 USD");
    if (body.currency !== undefined && body.currency !== "USD") return fail(400, "currency must be USD");
    if (!isCoin(body.blockchain)) return fail(400, "Invalid or missing cryptocurrency type");
    if (body.metadata !== undefined && !isRecord(body.metadata)) {
      return fail(400, "metadata must be an object");
    }
    const existing = key ? paymentsByKey.get(key) : undefined;
    if (existing) return json(201, { success: true, payment: paymentJson(existing) });
    const coin = body.blockchain;
    const rate = RATES[coin];
    const now = Date.now();
    const paymentAddress = addressFor(coin);
    const cryptoAmount = Number(fixed(amount / rate.usd, rate.decimals));
    const payment: FakePayment = {
      id: crypto.randomUUID(),
      businessId: opts.businessId,
      amountUsd: amount,
      blockchain: coin,
      description: typeof body.description === "string" ? body.description : null,
      metadata: isRecord(body.metadata) ? body.metadata : {},
      redirectUrl: typeof body.redirect_url === "string" ? body.redirect_url : null,
      paymentAddress,
      cryptoAmount,
      qrCode: qrCodeFor(coin, paymentAddress, cryptoAmount),
      status: "pending",
      createdAt: new Date(now),
      expiresAt: new Date(now + PAYMENT_TTL_MS),
      idempotencyKey: key,
      rawBody: raw,
    };
    payments.push(payment);
    if (key) paymentsByKey.set(key, payment);
    if (opts.autoConfirmMs != null) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (payment.status === "pending") confirm(payment.id).catch(() => {});
      }, opts.autoConfirmMs);
      timers.add(timer);
    }
    return json(201, { success: true, payment: paymentJson(payment) });
  }

  function createPayout(body: Record<string, unknown>, key: string | null, raw: string): Response {
    if (failPayouts.left > 0) {
      failPayouts.left--;
      return fail(failPayouts.status, "Injected payout failure (fake CoinPayPortal)");
    }
    if (typeof body.recipient_wallet !== "string" || !body.recipient_wallet) {
      return fail(400, "recipient_wallet is required");
    }
    if (!isCoin(body.cryptocurrency)) return fail(400, "Invalid or missing cryptocurrency");
    const amount = body.amount_usd;
    if (typeof amount !== "number" || !Number.isFinite(amount) || amount <= 0) {
      return fail(400, "Invalid or missing payout amount");
    }
    const existing = key ? payoutsByKey.get(key) : undefined;
    const done = newPayoutStatus === "completed";
    const payout: FakePayout = existing ?? {
      id: crypto.randomUUID(),
      recipientWallet: body.recipient_wallet,
      cryptocurrency: body.cryptocurrency,
      amountUsd: amount,
      status: newPayoutStatus,
      txHash: done ? txHashFor(body.cryptocurrency) : null,
      errorMessage: null,
      createdAt: new Date(),
      completedAt: done ? new Date() : null,
      idempotencyKey: key,
      rawBody: raw,
    };
    if (!existing) {
      payouts.push(payout);
      if (key) payoutsByKey.set(key, payout);
    }
    return json(201, { success: true, payout: payoutJson(payout, opts.businessId) });
  }

  function readPayout(id: string): Response {
    payoutReads.push(id);
    if (failPayoutReads.left > 0) {
      failPayoutReads.left--;
      return fail(failPayoutReads.status, "Injected payout read failure (fake CoinPayPortal)");
    }
    const payout = payouts.find((p) => p.id === id);
    if (!payout) return fail(404, "Payout not found");
    return json(200, { success: true, payout: payoutJson(payout, opts.businessId) });
  }

  function finishPayout(
    id: string,
    outcome: { status: "completed" } | { status: "failed"; error: string },
  ): FakePayout {
    const payout = payouts.find((p) => p.id === id);
    if (!payout) throw new Error(`fake CoinPayPortal: no payout ${id}`);
    payout.status = outcome.status;
    if (outcome.status === "completed") {
      payout.txHash = txHashFor(payout.cryptocurrency);
      payout.completedAt = new Date();
    } else payout.errorMessage = outcome.error;
    return payout;
  }

  async function handler(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname;
    const payoutMatch = /^\/api\/businesses\/([^/]+)\/payouts(?:\/([^/]+))?$/.exec(path);
    if (path !== "/api/payments/create" && !payoutMatch) return fail(404, "Not found");
    const reading = payoutMatch?.[2] !== undefined;
    if (req.method !== (reading ? "GET" : "POST")) return fail(405, "Method not allowed");
    const auth = req.headers.get("authorization");
    if (!auth) return fail(401, "Authentication required");
    if (auth !== `Bearer ${opts.apiKey}`) return fail(401, "Invalid API key");
    if (payoutMatch && decodeURIComponent(payoutMatch[1]) !== opts.businessId) {
      // CoinPayPortal answers 404 for a business that is not the caller's on the status route.
      return fail(reading ? 404 : 403, "Business not found or access denied");
    }
    if (reading) return readPayout(decodeURIComponent(payoutMatch![2]));
    const raw = await req.text();
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return fail(400, "Invalid JSON body");
    }
    if (!isRecord(body)) return fail(400, "Invalid JSON body");
    const key = req.headers.get("idempotency-key");
    return payoutMatch ? createPayout(body, key, raw) : createPayment(body, key, raw);
  }

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    onError(err) {
      console.error(err);
      return fail(500, "Internal server error");
    },
  }, handler);

  return Promise.resolve({
    url: `http://127.0.0.1:${server.addr.port}`,
    payments,
    payouts,
    webhookDeliveries: deliveries,
    setWebhookUrl(url) {
      webhookUrl = url;
    },
    confirm,
    redeliver: (eventId) => track(deliver(eventId)),
    failNextPayouts(n, status = 500) {
      failPayouts = { left: n, status };
    },
    setPayoutStatus(status) {
      newPayoutStatus = status;
    },
    finishPayout,
    payoutReads,
    failNextPayoutReads(n, status = 503) {
      failPayoutReads = { left: n, status };
    },
    async close() {
      closing.abort();
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await Promise.allSettled([...inFlight]);
      await server.shutdown();
    },
  });
}

function paymentJson(p: FakePayment) {
  return {
    id: p.id,
    business_id: p.businessId,
    amount_usd: p.amountUsd,
    currency: "USD",
    blockchain: p.blockchain,
    payment_address: p.paymentAddress,
    crypto_amount: p.cryptoAmount,
    qr_code: p.qrCode,
    status: p.status,
    metadata: p.metadata,
    created_at: p.createdAt.toISOString(),
    expires_at: p.expiresAt.toISOString(),
  };
}

/** CoinPayPortal's `PayoutRecord`, as its create and status routes answer it. */
function payoutJson(p: FakePayout, businessId: string) {
  return {
    id: p.id,
    business_id: businessId,
    recipient_wallet: p.recipientWallet,
    cryptocurrency: p.cryptocurrency,
    amount_usd: p.amountUsd,
    amount_crypto: Number(fixed(p.amountUsd / RATES[p.cryptocurrency].usd, RATES[p.cryptocurrency].decimals)),
    tx_hash: p.txHash,
    status: p.status,
    error_message: p.errorMessage,
    metadata: {},
    created_at: p.createdAt.toISOString(),
    completed_at: p.completedAt?.toISOString() ?? null,
  };
}

function signWebhook(body: string, secret: string, tSec: number): string {
  const mac = hmac(sha256, utf8ToBytes(secret), concatBytes(utf8ToBytes(`${tSec}.`), utf8ToBytes(body)));
  return `t=${tSec},v1=${bytesToHex(mac)}`;
}

/** A made-up address with the right shape and checksum for the coin's chain. */
function addressFor(coin: Coin): string {
  switch (chainOf(coin)) {
    case "BTC":
      return bech32.encode("bc", [0, ...bech32.toWords(randomBytes(20))]);
    case "DOGE":
      return createBase58check(sha256).encode(concatBytes(new Uint8Array([0x1e]), randomBytes(20)));
    case "EVM":
      return eip55(bytesToHex(randomBytes(20)));
    case "SOL":
      return base58.encode(randomBytes(32));
    case "XRP": {
      const payload = concatBytes(new Uint8Array([0]), randomBytes(20));
      return base58xrp.encode(concatBytes(payload, sha256(sha256(payload)).slice(0, 4)));
    }
    case "ADA": {
      const payload = concatBytes(new Uint8Array([0x01]), randomBytes(56));
      return bech32.encode("addr", bech32.toWords(payload), 200);
    }
  }
}

function eip55(lowerHex: string): string {
  const hash = bytesToHex(keccak_256(utf8ToBytes(lowerHex)));
  let out = "0x";
  for (let i = 0; i < lowerHex.length; i++) {
    out += parseInt(hash[i], 16) >= 8 ? lowerHex[i].toUpperCase() : lowerHex[i];
  }
  return out;
}

function txHashFor(coin: Coin): string {
  const chain = chainOf(coin);
  if (chain === "EVM") return `0x${bytesToHex(randomBytes(32))}`;
  if (chain === "SOL") return base58.encode(randomBytes(64));
  return bytesToHex(randomBytes(32));
}

/** Not a scannable QR code: an SVG placeholder carrying the payment URI, as a data URL. */
function qrCodeFor(coin: Coin, address: string, amount: number): string {
  const uri = `${coin.toLowerCase()}:${address}?amount=${amount}`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256">` +
    `<rect width="256" height="256" fill="#fff"/><text x="8" y="128" font-size="8">${uri}</text></svg>`;
  return `data:image/svg+xml;base64,${btoa(svg)}`;
}

/** A quote with at most `decimals` places and no trailing zeros. */
function fixed(value: number, decimals: number): string {
  return value.toFixed(decimals).replace(/\.?0+$/, "") || "0";
}

function json(status: number, body: unknown): Response {
  return Response.json(body, { status });
}

function fail(status: number, error: string): Response {
  return json(status, { success: false, error });
}
