import assert from "node:assert/strict";
import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { base64 } from "@scure/base";
import { createNip98Header, NIP98_KIND, payloadHash, verifyNip98 } from "./nip98.ts";

const sk = generateSecretKey();
const url = "http://127.0.0.1:8787/api/nodes/heartbeat";
const body = new TextEncoder().encode('{"load":0}');
const now = 1_800_000_000;

function header(event: unknown): string {
  return "Nostr " + base64.encode(new TextEncoder().encode(JSON.stringify(event)));
}

function signed(tags: string[][], opts: { kind?: number; createdAt?: number } = {}) {
  return finalizeEvent({
    kind: opts.kind ?? NIP98_KIND,
    created_at: opts.createdAt ?? now,
    content: "",
    tags,
  }, sk);
}

Deno.test("nip98 - accepts a request signed for its exact URL, method and body", () => {
  const r = verifyNip98(createNip98Header(sk, url, "POST", body, now), {
    url,
    method: "POST",
    body,
    nowSec: now,
  });
  assert.equal(r.ok, true);
  assert.equal(r.ok && r.pubkey, getPublicKey(sk));
});

Deno.test("nip98 - rejects a missing or non-Nostr header", () => {
  assert.match((verifyNip98(null, { url, method: "POST", body }) as { reason: string }).reason, /missing/);
  const r = verifyNip98("Bearer abc", { url, method: "POST", body });
  assert.equal(r.ok, false);
});

Deno.test("nip98 - rejects a stale or future event beyond 60 s", () => {
  for (const createdAt of [now - 61, now + 61]) {
    const r = verifyNip98(createNip98Header(sk, url, "POST", body, createdAt), {
      url,
      method: "POST",
      body,
      nowSec: now,
    });
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /stale/);
  }
  const edge = verifyNip98(createNip98Header(sk, url, "POST", body, now - 60), {
    url,
    method: "POST",
    body,
    nowSec: now,
  });
  assert.equal(edge.ok, true);
});

Deno.test("nip98 - rejects a URL, method or payload mismatch", () => {
  const h = createNip98Header(sk, url, "POST", body, now);
  const cases: [Parameters<typeof verifyNip98>[1], RegExp][] = [
    [{ url: url + "?x=1", method: "POST", body, nowSec: now }, /u tag/],
    [{ url: "http://127.0.0.1:8787/api/nodes/register", method: "POST", body, nowSec: now }, /u tag/],
    [{ url, method: "PUT", body, nowSec: now }, /method/],
    [{ url, method: "POST", body: new TextEncoder().encode('{"load":1}'), nowSec: now }, /payload/],
  ];
  for (const [req, reason] of cases) {
    const r = verifyNip98(h, req);
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, reason);
  }
});

Deno.test("nip98 - requires a payload tag when the request has a body", () => {
  const e = signed([["u", url], ["method", "POST"]]);
  const r = verifyNip98(header(e), { url, method: "POST", body, nowSec: now });
  assert.match((r as { reason: string }).reason, /payload tag is required/);
});

Deno.test("nip98 - rejects a forged signature, a tampered tag and a wrong kind", () => {
  const good = signed([["u", url], ["method", "POST"], ["payload", payloadHash(body)]]);
  const forgedSig = { ...good, sig: good.sig.replace(/^./, (c) => (c === "a" ? "b" : "a")) };
  assert.match(
    (verifyNip98(header(forgedSig), { url, method: "POST", body, nowSec: now }) as { reason: string }).reason,
    /signature/,
  );
  // Same id and sig, but a tag changed after signing: the id no longer matches the content.
  const other = "http://127.0.0.1:8787/api/nodes/register";
  const tampered = { ...good, tags: [["u", other], ["method", "POST"], ["payload", payloadHash(body)]] };
  assert.match(
    (verifyNip98(header(tampered), { url: other, method: "POST", body, nowSec: now }) as { reason: string })
      .reason,
    /signature/,
  );
  const wrongKind = signed([["u", url], ["method", "POST"], ["payload", payloadHash(body)]], { kind: 1 });
  assert.match(
    (verifyNip98(header(wrongKind), { url, method: "POST", body, nowSec: now }) as { reason: string }).reason,
    /kind/,
  );
});

Deno.test("nip98 - rejects malformed events and garbage base64", () => {
  assert.equal(verifyNip98("Nostr !!!", { url, method: "POST", body }).ok, false);
  assert.equal(verifyNip98(header({ id: "x" }), { url, method: "POST", body }).ok, false);
  assert.equal(verifyNip98(header([1, 2]), { url, method: "POST", body }).ok, false);
});

Deno.test("nip98 - two identical requests signed in the same second are distinct events", () => {
  const ids = [1, 2].map(() => {
    const r = verifyNip98(createNip98Header(sk, url, "POST", body, now), {
      url,
      method: "POST",
      body,
      nowSec: now,
    });
    assert.ok(r.ok);
    return r.event.id;
  });
  assert.notEqual(ids[0], ids[1]);
});
