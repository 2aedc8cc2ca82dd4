import assert from "node:assert/strict";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { generateSecretKey, getEventHash, type NostrEvent } from "nostr-tools/pure";
import { nativeSecp256k1 } from "./native.ts";
import {
  eventHash,
  fastestSecp256k1,
  nativeBackend,
  PURE_SECP256K1,
  type Secp256k1Backend,
} from "./secp256k1.ts";
import { loadWasmNostr } from "./wasm.ts";

// CI installs libsecp256k1 and asks for it: there a missing native backend is a failure, not a skip.
const REQUIRE_NATIVE = Deno.env.get("INFERNET_REQUIRE_LIBSECP256K1") === "1";

async function backends(): Promise<Secp256k1Backend[]> {
  const all: Secp256k1Backend[] = [PURE_SECP256K1];
  const fastest = await fastestSecp256k1();
  const curve = nativeSecp256k1();
  if (curve) all.push(nativeBackend(curve));
  else if (REQUIRE_NATIVE) throw new Error("libsecp256k1 did not load (INFERNET_REQUIRE_LIBSECP256K1=1)");
  else console.log("libsecp256k1 not found: the native backend is not tested here");
  if (await loadWasmNostr() && fastest.name === "wasm") all.push(fastest);
  return all;
}

function template(i: number) {
  return {
    kind: 7475,
    created_at: 1_780_000_000 + i,
    tags: [["e", "ab".repeat(32)], ["n", String(i)]],
    content: `ü ${i}`,
  };
}

// BIP-340's test vector 0 (secret key 3, zero message, zero aux) and vector 5 (key not on the curve).
const VECTOR0 = {
  pubkey: "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9",
  sig:
    "e907831f80848d1069a5371b402410364bdf1c5f8307b0084c55f1ce2dca821525f66a4a85ea8b71e482a74f382d2ce5ebeee8fdb2172f477df4900d310536c0",
};
const OFF_CURVE = "eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34";

Deno.test("native libsecp256k1 checks BIP-340's vectors", () => {
  const curve = nativeSecp256k1();
  if (!curve) return assert.equal(REQUIRE_NATIVE, false, "libsecp256k1 did not load");
  const zero = new Uint8Array(32);
  assert(curve.verify(hexToBytes(VECTOR0.sig), zero, hexToBytes(VECTOR0.pubkey)));
  const flipped = hexToBytes(VECTOR0.sig);
  flipped[63] ^= 1;
  assert.equal(false, curve.verify(flipped, zero, hexToBytes(VECTOR0.pubkey)));
  assert.equal(false, curve.verify(hexToBytes(VECTOR0.sig), zero, hexToBytes(OFF_CURVE)));
  assert.equal(false, curve.verify(hexToBytes(VECTOR0.sig).subarray(1), zero, hexToBytes(VECTOR0.pubkey)));
  const three = new Uint8Array(32);
  three[31] = 3;
  assert.equal(bytesToHex(curve.publicKey(three)), VECTOR0.pubkey);
  assert.throws(() => curve.sign(zero, new Uint8Array(32)), /invalid secret key/);
  assert.throws(() => curve.sharedX(three, hexToBytes(OFF_CURVE)), /invalid public key/);
});

Deno.test("every backend verifies every other's events and agrees on keys and ECDH", async () => {
  const all = await backends();
  const a = generateSecretKey(), b = generateSecretKey();
  for (const signer of all) {
    const events = [0, 1, 2].map((i) => signer.finalizeEvent(template(i), a));
    for (const checker of all) {
      assert.equal(checker.getPublicKey(a), signer.getPublicKey(a), `${checker.name} vs ${signer.name}`);
      for (const e of events) {
        assert(checker.verifyEvent(structuredClone(e)), `${checker.name} refused ${signer.name}'s event`);
        const { sig: _, ...unsigned } = e;
        const sig = signer.signEvent(unsigned, a);
        assert(
          checker.verifyEvent({ ...unsigned, sig }),
          `${checker.name} refused ${signer.name}'s signEvent`,
        );
      }
      const ab = signer.sharedX(a, checker.getPublicKey(b));
      assert.equal(ab.length, 32);
      assert.equal(bytesToHex(ab), bytesToHex(checker.sharedX(b, signer.getPublicKey(a))));
    }
  }
});

Deno.test("every backend tells curve points from other 32-byte strings", async () => {
  const all = await backends();
  const keys = [VECTOR0.pubkey, ...[0, 1, 2].map(() => PURE_SECP256K1.getPublicKey(generateSecretKey()))];
  // Not an x on the curve; x ≥ p; zero; the wrong length, case or alphabet.
  const notKeys = [
    OFF_CURVE,
    "ff".repeat(32),
    "00".repeat(32),
    VECTOR0.pubkey.slice(2),
    VECTOR0.pubkey + "00",
    VECTOR0.pubkey.toUpperCase(),
    "zz" + VECTOR0.pubkey.slice(2),
    "",
  ];
  for (const b of all) {
    for (const k of keys) assert.equal(b.isPublicKey(k), true, `${b.name}: ${k}`);
    for (const k of notKeys) assert.equal(b.isPublicKey(k), false, `${b.name}: ${k}`);
  }
});

Deno.test("every backend refuses tampered and malformed events without throwing", async () => {
  const all = await backends();
  const sk = generateSecretKey();
  const good = PURE_SECP256K1.finalizeEvent(template(7), sk);
  const other = PURE_SECP256K1.finalizeEvent(template(8), generateSecretKey());
  const bad: [string, Partial<NostrEvent> | Record<string, unknown>][] = [
    ["content changed", { content: "changed" }],
    ["tags changed", { tags: [["e", "cd".repeat(32)]] }],
    ["another key's signature", { sig: other.sig }],
    ["another key", { pubkey: other.pubkey }],
    ["id of another event", { id: other.id }],
    ["short signature", { sig: good.sig.slice(2) }],
    ["not hex", { sig: "zz" + good.sig.slice(2) }],
    ["key off the curve", { pubkey: OFF_CURVE }],
    ["no kind", { kind: undefined }],
    ["tags not an array", { tags: "x" }],
  ];
  for (const backend of all) {
    assert(backend.verifyEvent(JSON.parse(JSON.stringify(good))), backend.name);
    for (const [what, change] of bad) {
      // Through JSON, as events arrive: a spread would carry nostr-tools' cached verdict along.
      const event = JSON.parse(JSON.stringify({ ...good, ...change })) as NostrEvent;
      assert.equal(false, backend.verifyEvent(event), `${backend.name} accepted: ${what}`);
    }
  }
});

Deno.test("eventHash is NIP-01's id, as nostr-tools computes it", () => {
  for (const i of [0, 1, 2]) {
    const t = { ...template(i), pubkey: "ab".repeat(32), content: `"quotes"\n\\ 🚀 ${i}` };
    assert.equal(eventHash(t), getEventHash(t));
  }
});

Deno.test("native verify keeps the last key parsed: key after key, an invalid one between, all right", () => {
  const curve = nativeSecp256k1();
  if (!curve) return assert.equal(REQUIRE_NATIVE, false, "libsecp256k1 did not load");
  const keys = [1, 2].map((n) => {
    const sk = new Uint8Array(32);
    sk[31] = n;
    return sk;
  });
  const hash = new Uint8Array(32).fill(7);
  const [a, b] = keys.map((sk) => ({ pub: curve.publicKey(sk), sig: curve.sign(hash, sk) }));
  const off = hexToBytes(OFF_CURVE);
  for (
    const [sig, pub, want] of [
      [a.sig, a.pub, true],
      [a.sig, a.pub, true],
      [a.sig, b.pub, false],
      [b.sig, b.pub, true],
      [b.sig, off, false],
      [b.sig, b.pub, true],
      [a.sig, off, false],
      [a.sig, a.pub, true],
      [b.sig, a.pub, false],
    ] as const
  ) {
    assert.equal(curve.verify(sig, hash, pub), want);
  }
  // The caller's key bytes may change after the call: the next verify reads them again.
  const reused = a.pub.slice();
  assert.equal(curve.verify(a.sig, hash, reused), true);
  reused.set(b.pub);
  assert.equal(curve.verify(b.sig, hash, reused), true);
  assert.equal(curve.verify(a.sig, hash, reused), false);
});
