import assert from "node:assert/strict";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, concatBytes } from "@noble/hashes/utils.js";
import { isCoinPayEventType, parseWireDecimal, signCoinPayWebhook, verifyCoinPayWebhook } from "./webhook.ts";

const SECRET = "whsec_test_secret";
const NOW = 1_760_000_000;

function eventBody(overrides: Record<string, unknown> = {}, data: Record<string, unknown> = {}): string {
  return JSON.stringify({
    id: "evt_abc123def456",
    type: "payment.confirmed",
    data: {
      payment_id: "8c1f2d7e-0000-4000-8000-000000000001",
      status: "confirmed",
      amount_usd: "10.50",
      amount_crypto: "0.000105",
      currency: "BTC",
      confirmations: 6,
      payment_address: "bc1qexampleaddress",
      tx_hash: "ab".repeat(32),
      merchant_amount: "0.00010395",
      platform_fee: "0.00000105",
      metadata: { deposit_id: "dep_1", note: 7 },
      ...data,
    },
    created_at: "2025-10-09T08:53:20.000Z",
    business_id: "biz_1",
    ...overrides,
  });
}

const bytes = (s: string) => new TextEncoder().encode(s);

function verify(body: string, header: string | null, nowSec = NOW) {
  return verifyCoinPayWebhook(bytes(body), header, SECRET, { nowSec });
}

function reasonOf(res: ReturnType<typeof verify>): string {
  assert.equal(res.ok, false);
  return res.ok ? "" : res.reason;
}

Deno.test("webhook - accepts a correctly signed event and parses it into camelCase", () => {
  const body = eventBody();
  const res = verify(body, signCoinPayWebhook(body, SECRET, NOW));
  assert.ok(res.ok, res.ok ? "" : res.reason);
  const e = res.event;
  assert.equal(e.id, "evt_abc123def456");
  assert.equal(e.type, "payment.confirmed");
  assert.ok(isCoinPayEventType(e.type));
  assert.equal(e.paymentId, "8c1f2d7e-0000-4000-8000-000000000001");
  assert.equal(e.status, "confirmed");
  assert.equal(e.amountUsd, "10.50");
  assert.equal(e.amountCrypto, "0.000105");
  assert.equal(e.currency, "BTC");
  assert.equal(e.confirmations, 6);
  assert.equal(e.paymentAddress, "bc1qexampleaddress");
  assert.equal(e.txHash, "ab".repeat(32));
  assert.equal(e.merchantAmount, "0.00010395");
  assert.equal(e.platformFee, "0.00000105");
  assert.deepEqual(e.metadata, { deposit_id: "dep_1" });
  assert.equal(e.createdAt.toISOString(), "2025-10-09T08:53:20.000Z");
  assert.equal(e.businessId, "biz_1");
});

Deno.test('webhook - signs exactly as WebCrypto HMAC-SHA256 over "<t>.<body>"', async () => {
  const body = eventBody();
  const key = await crypto.subtle.importKey("raw", bytes(SECRET), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, bytes(`${NOW}.${body}`)));
  assert.equal(signCoinPayWebhook(body, SECRET, NOW), `t=${NOW},v1=${bytesToHex(mac)}`);
});

Deno.test("webhook - accepts an event within 300 s either side and numeric amounts", () => {
  const body = eventBody({}, { amount_usd: 10.5, amount_crypto: 1e-7, tx_hash: null, platform_fee: null });
  for (const t of [NOW - 300, NOW + 300]) {
    const res = verify(body, signCoinPayWebhook(body, SECRET, t));
    assert.ok(res.ok, res.ok ? "" : res.reason);
    assert.equal(res.event.amountUsd, "10.5");
    assert.equal(res.event.amountCrypto, "0.0000001");
    assert.equal(res.event.txHash, null);
    assert.equal(res.event.platformFee, null);
  }
});

Deno.test("webhook - keeps an unknown event type verified so the caller can ignore it", () => {
  const body = eventBody({ type: "payment.detected" });
  const res = verify(body, signCoinPayWebhook(body, SECRET, NOW));
  assert.ok(res.ok);
  assert.equal(res.event.type, "payment.detected");
  assert.equal(isCoinPayEventType(res.event.type), false);
});

Deno.test("webhook - rejects a signature made with another secret", () => {
  const body = eventBody();
  assert.match(reasonOf(verify(body, signCoinPayWebhook(body, "not-the-secret", NOW))), /mismatch/);
});

Deno.test("webhook - rejects a body tampered with after signing", () => {
  const body = eventBody();
  const header = signCoinPayWebhook(body, SECRET, NOW);
  const tampered = body.replace('"10.50"', '"99.50"');
  assert.notEqual(tampered, body);
  assert.match(reasonOf(verify(tampered, header)), /mismatch/);
});

Deno.test("webhook - rejects a stale timestamp (301 s) and one from the future", () => {
  const body = eventBody();
  assert.match(reasonOf(verify(body, signCoinPayWebhook(body, SECRET, NOW - 301))), /tolerance/);
  assert.match(reasonOf(verify(body, signCoinPayWebhook(body, SECRET, NOW + 301))), /tolerance/);
});

Deno.test("webhook - rejects a header replayed on a different body", () => {
  const first = eventBody();
  const header = signCoinPayWebhook(first, SECRET, NOW);
  const second = eventBody({ id: "evt_other" });
  assert.match(reasonOf(verify(second, header)), /mismatch/);
});

Deno.test("webhook - rejects a timestamp swapped into a valid header", () => {
  const body = eventBody();
  const v1 = signCoinPayWebhook(body, SECRET, NOW).split(",")[1];
  assert.match(reasonOf(verify(body, `t=${NOW + 1},${v1}`)), /mismatch/);
});

Deno.test("webhook - rejects missing and malformed signature headers", () => {
  const body = eventBody();
  const good = signCoinPayWebhook(body, SECRET, NOW);
  const hex = good.split("v1=")[1];
  const cases: Array<[string | null, RegExp]> = [
    [null, /missing/],
    ["", /missing/],
    ["garbage", /garbled/],
    [`v1=${hex}`, /no timestamp/],
    [`t=${NOW}`, /no v1/],
    [`t=${NOW},t=${NOW},v1=${hex}`, /timestamp/],
    [`t=abc,v1=${hex}`, /timestamp/],
    [`t=-5,v1=${hex}`, /timestamp/],
    [`t=${NOW},v1=${hex.slice(2)}`, /hex/],
    [`t=${NOW},v1=${hex.slice(2)}zz`, /hex/],
    [`t=${NOW},v1=${hex}00`, /hex/],
    [`t=${NOW},=${hex}`, /garbled/],
  ];
  for (const [header, reason] of cases) {
    assert.match(reasonOf(verify(body, header)), reason, `header ${header}`);
  }
});

Deno.test("webhook - accepts one matching v1 among several (secret rotation) and ignores other schemes", () => {
  const body = eventBody();
  const good = signCoinPayWebhook(body, SECRET, NOW).split("v1=")[1];
  const res = verify(body, `t=${NOW}, v0=xyz, v1=${"0".repeat(64)}, v1=${good.toUpperCase()}`);
  assert.ok(res.ok, res.ok ? "" : res.reason);
});

Deno.test("webhook - rejects a body that is not JSON or not UTF-8", () => {
  const body = "not json {";
  assert.match(reasonOf(verify(body, signCoinPayWebhook(body, SECRET, NOW))), /not JSON/);
  const raw = new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]);
  const header = `t=${NOW},v1=${hmacHexSync(SECRET, NOW, raw)}`;
  const res = verifyCoinPayWebhook(raw, header, SECRET, { nowSec: NOW });
  assert.match(reasonOf(res), /not JSON/);
});

Deno.test("webhook - rejects signed bodies that break the event schema", () => {
  const cases: Array<[string, RegExp]> = [
    [JSON.stringify([1, 2]), /not an object/],
    [eventBody({ id: "abc" }), /id/],
    [eventBody({ id: "evt_" }), /id/],
    [eventBody({ type: 5 }), /type/],
    [eventBody({ business_id: undefined }), /business_id/],
    [eventBody({ created_at: "yesterday" }), /created_at/],
    [eventBody({ data: null }), /data/],
    [eventBody({}, { payment_id: undefined }), /payment_id/],
    [eventBody({}, { status: 1 }), /status/],
    [eventBody({}, { amount_usd: undefined }), /amount_usd/],
    [eventBody({}, { amount_usd: "-1.00" }), /amount_usd/],
    [eventBody({}, { amount_usd: "1e3" }), /amount_usd/],
    [eventBody({}, { amount_crypto: "lots" }), /amount_crypto/],
    [eventBody({}, { confirmations: -1 }), /confirmations/],
    [eventBody({}, { confirmations: 1.5 }), /confirmations/],
    [eventBody({}, { tx_hash: 12 }), /tx_hash/],
    [eventBody({}, { metadata: ["x"] }), /metadata/],
  ];
  for (const [body, reason] of cases) {
    assert.match(reasonOf(verify(body, signCoinPayWebhook(body, SECRET, NOW))), reason, body);
  }
});

Deno.test("webhook - refuses to verify with an empty secret", () => {
  const body = eventBody();
  const res = verifyCoinPayWebhook(bytes(body), signCoinPayWebhook(body, "", NOW), "", { nowSec: NOW });
  assert.match(reasonOf(res), /secret/);
});

Deno.test("webhook - wire decimals stay exact text", () => {
  assert.equal(parseWireDecimal("100.00"), "100.00");
  assert.equal(parseWireDecimal(0.01), "0.01");
  assert.equal(parseWireDecimal(1.5e-8), "0.000000015");
  assert.equal(parseWireDecimal(1e21), "1000000000000000000000");
  assert.equal(parseWireDecimal(-1), null);
  assert.equal(parseWireDecimal("0x10"), null);
  assert.equal(parseWireDecimal(NaN), null);
});

function hmacHexSync(secret: string, t: number, raw: Uint8Array): string {
  return bytesToHex(hmac(sha256, bytes(secret), concatBytes(bytes(`${t}.`), raw)));
}
