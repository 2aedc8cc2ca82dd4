import assert from "node:assert/strict";
import { finalizeEvent, generateSecretKey, getPublicKey, type NostrEvent } from "nostr-tools/pure";
import { buyerDidOf } from "../receipts/receipt.ts";
import { PURE_SECP256K1 } from "../nostr/secp256k1.ts";
import { createVoucher, newVoucherId, verifyVoucher, VOUCHER_KIND, type VoucherContent } from "./voucher.ts";

const platform = generateSecretKey();
const platformPubkey = getPublicKey(platform);
const consumer = getPublicKey(generateSecretKey());
const NOW = 1_780_000_000;

const content: VoucherContent = {
  voucher_id: "vch_0123456789abcdef0123456789abcdef",
  buyer_did: buyerDidOf(platformPubkey, "key:7"),
  consumer,
  max_nano: "2500000000",
  currency: "USD",
  expires_at: NOW + 86_400,
  created_at: NOW,
};
const opts = { platformPubkey, nowS: NOW + 1 };

/** Signs an arbitrary kind-7482 event with the platform key (or another), as a forger could. */
function signed(text: string, tags?: string[][], key = platform, createdAt = NOW): NostrEvent {
  return finalizeEvent({
    kind: VOUCHER_KIND,
    created_at: createdAt,
    tags: tags ??
      [["p", consumer], ["expiration", String(NOW + 86_400)], ["t", "infernet-voucher"]],
    content: text,
  }, key);
}

function outcome(raw: unknown, o: Parameters<typeof verifyVoucher>[1] = opts): string {
  const check = verifyVoucher(raw, o);
  return check.ok ? "accepted" : check.code;
}

Deno.test("voucher - a signed voucher verifies offline, with canonical content and its tags", () => {
  const event = createVoucher(platform, content);
  assert.equal(event.kind, 7482);
  assert.equal(event.pubkey, platformPubkey);
  assert.equal(event.created_at, NOW);
  assert.deepEqual(event.tags, [
    ["p", consumer],
    ["expiration", String(NOW + 86_400)],
    ["t", "infernet-voucher"],
  ]);
  assert.equal(
    event.content,
    `{"buyer_did":"${content.buyer_did}","consumer":"${consumer}","created_at":${NOW},` +
      `"currency":"USD","expires_at":${NOW + 86_400},"max_nano":"2500000000",` +
      `"voucher_id":"vch_0123456789abcdef0123456789abcdef"}`,
  );
  const check = verifyVoucher(JSON.parse(JSON.stringify(event)), opts);
  assert.ok(check.ok);
  assert.deepEqual(check.voucher.content, content);
  assert.equal(check.voucher.event.id, event.id);
});

Deno.test("voucher - another backend signs and verifies the same voucher", () => {
  const event = createVoucher(platform, content, PURE_SECP256K1);
  assert.equal(outcome(event, { ...opts, verifyEvent: PURE_SECP256K1.verifyEvent }), "accepted");
  // Same content, same id: the id does not depend on the backend (BIP-340 signatures may differ).
  assert.equal(event.id, createVoucher(platform, content).id);
});

Deno.test("voucher - only the voucher's own fields are signed", () => {
  const extra = { ...content, note: "not a voucher field" } as unknown as VoucherContent;
  const event = createVoucher(platform, extra);
  assert.ok(!event.content.includes("note"));
  assert.equal(outcome(event), "accepted");
});

Deno.test("voucher - createVoucher refuses content that is not a voucher's", () => {
  const bad: Partial<Record<keyof VoucherContent, unknown>>[] = [
    { voucher_id: "vch_short" },
    { voucher_id: "VCH_0123456789abcdef0123456789abcdef" },
    { consumer: "ab" },
    { max_nano: "0" },
    { max_nano: "1.5" },
    { max_nano: "01" },
    { max_nano: "9223372036854775808" },
    { max_nano: 5 },
    { currency: "EUR" },
    { expires_at: -1 },
    { expires_at: NOW - 1 },
    { created_at: 1.5 },
    { buyer_did: "" },
  ];
  for (const change of bad) {
    assert.throws(
      () => createVoucher(platform, { ...content, ...change } as VoucherContent),
      TypeError,
      JSON.stringify(change),
    );
  }
  assert.equal(
    outcome(createVoucher(platform, { ...content, max_nano: "9223372036854775807" })),
    "accepted",
  );
});

Deno.test("voucher - voucher_forged: signed by another key, or checked against another key", () => {
  const stranger = generateSecretKey();
  // A forger signs a perfect voucher with its own key: the signature is fine, the key is not.
  assert.equal(outcome(createVoucher(stranger, content)), "voucher_forged");
  // A genuine voucher of another control plane (a foreign key) is refused here too.
  const otherPlatform = getPublicKey(generateSecretKey());
  assert.equal(
    outcome(createVoucher(platform, content), { ...opts, platformPubkey: otherPlatform }),
    "voucher_forged",
  );
  // The platform's pubkey claimed over a stranger's signature.
  const claimed = { ...createVoucher(stranger, content), pubkey: platformPubkey };
  assert.equal(outcome(claimed), "voucher_forged");
});

Deno.test("voucher - voucher_forged: tampered content, tags, time or signature", () => {
  const good = createVoucher(platform, content);
  const raised = good.content.replace('"max_nano":"2500000000"', '"max_nano":"9500000000"');
  assert.notEqual(raised, good.content);
  assert.equal(outcome({ ...good, content: raised }), "voucher_forged");
  const otherConsumer = getPublicKey(generateSecretKey());
  assert.equal(outcome({ ...good, tags: [["p", otherConsumer], ...good.tags.slice(1)] }), "voucher_forged");
  assert.equal(outcome({ ...good, created_at: NOW + 5 }), "voucher_forged");
  const flipped = (good.sig[0] === "0" ? "1" : "0") + good.sig.slice(1);
  assert.equal(outcome({ ...good, sig: flipped }), "voucher_forged");
});

Deno.test("voucher - voucher_forged: malformed events and content, even when signed", () => {
  const good = createVoucher(platform, content);
  for (const raw of [null, undefined, "x", 7482, {}, [], { ...good, sig: "00" }, { ...good, tags: "p" }]) {
    assert.equal(outcome(raw), "voucher_forged", JSON.stringify(raw));
  }
  assert.equal(outcome(finalizeEvent({ ...good, kind: 7478 }, platform)), "voucher_forged");
  for (const text of ["not json", "[1,2]", "null", "{}"]) {
    assert.equal(outcome(signed(text)), "voucher_forged", text);
  }
  const fields = JSON.parse(good.content);
  // Not canonical: the same fields with whitespace, or keys out of order.
  assert.equal(outcome(signed(JSON.stringify(fields, null, 1))), "voucher_forged");
  const unsorted = JSON.stringify({ voucher_id: fields.voucher_id, ...fields });
  assert.notEqual(unsorted, good.content);
  assert.equal(outcome(signed(unsorted)), "voucher_forged");
  // An extra field, a missing one, a wrong type.
  const { currency: _, ...noCurrency } = fields;
  for (
    const c of [{ ...fields, extra: 1 }, noCurrency, { ...fields, max_nano: 2500000000 }, {
      ...fields,
      max_nano: "-1",
    }]
  ) {
    const sorted = Object.fromEntries(Object.entries(c).sort(([a], [b]) => a < b ? -1 : 1));
    assert.equal(outcome(signed(JSON.stringify(sorted))), "voucher_forged", JSON.stringify(c));
  }
  // Tags missing or disagreeing with the content.
  assert.equal(outcome(signed(good.content, [["p", consumer], ["t", "infernet-voucher"]])), "voucher_forged");
  assert.equal(
    outcome(signed(good.content, [["p", consumer], ["expiration", String(NOW + 86_400)]])),
    "voucher_forged",
  );
  assert.equal(
    outcome(signed(good.content, [["p", consumer], ["expiration", "1"], ["t", "infernet-voucher"]])),
    "voucher_forged",
  );
  // The signed copy of the genuine content verifies: the checks above refuse the change, not the signer.
  assert.equal(outcome(signed(good.content)), "accepted");
});

Deno.test("voucher - voucher_expired after expires_at, still good at it", () => {
  const event = createVoucher(platform, content);
  assert.equal(outcome(event, { ...opts, nowS: content.expires_at }), "accepted");
  assert.equal(outcome(event, { ...opts, nowS: content.expires_at + 1 }), "voucher_expired");
  // A forged voucher is forged whatever the time.
  assert.equal(
    outcome(createVoucher(generateSecretKey(), content), { ...opts, nowS: content.expires_at + 1 }),
    "voucher_forged",
  );
  const check = verifyVoucher(event, { ...opts, nowS: content.expires_at + 60 });
  assert.ok(!check.ok && check.message.includes("expired"));
});

Deno.test("voucher - the check does not trust or mutate the caller's object", () => {
  // Plain JSON, as received (nostr-tools marks the events it signs with a symbol).
  const event = JSON.parse(JSON.stringify(createVoucher(platform, content)));
  const copy = structuredClone(event);
  const check = verifyVoucher(event, opts);
  assert.ok(check.ok);
  assert.deepEqual(event, copy);
  assert.notEqual(check.voucher.event, event);
});

Deno.test("voucher - ids are vch_ and 32 hex digits, different each time", () => {
  const ids = new Set(Array.from({ length: 100 }, newVoucherId));
  assert.equal(ids.size, 100);
  for (const id of ids) assert.match(id, /^vch_[0-9a-f]{32}$/);
});
