// The conversation key computed from each secp256k1 backend's shared x (shared/nostr/secp256k1.ts)
// equals nostr-tools' on NIP-44's published vectors (testdata/nip44.vectors.json), and invalid keys
// throw as they do there.
import assert from "node:assert/strict";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { v2 as nip44 } from "nostr-tools/nip44";
import { fastestSecp256k1, nativeBackend, PURE_SECP256K1, type Secp256k1Backend } from "../mod.ts";
import { nativeSecp256k1 } from "../nostr/native.ts";
import { conversationKey } from "./conversation_key.ts";
import { nativeNip44 } from "./nip44_native.ts";

const vectors = JSON.parse(
  await Deno.readTextFile(new URL("./testdata/nip44.vectors.json", import.meta.url)),
);
const valid: { sec1: string; pub2: string; conversation_key: string }[] =
  vectors.v2.valid.get_conversation_key;
const invalid: { sec1: string; pub2: string; note: string }[] = vectors.v2.invalid.get_conversation_key;

// CI installs libsecp256k1 and asks for it: there a missing native backend is a failure.
const REQUIRE_NATIVE = Deno.env.get("INFERNET_REQUIRE_LIBSECP256K1") === "1";
const curve = nativeSecp256k1();
if (!curve && REQUIRE_NATIVE) throw new Error("libsecp256k1 did not load (INFERNET_REQUIRE_LIBSECP256K1=1)");

/** The backends under test, by name: pure, native when it loads, and the fastest (wasm without it). */
const backends: Record<string, Secp256k1Backend> = { pure: PURE_SECP256K1 };
if (curve) backends.native = nativeBackend(curve);
const fastest = await fastestSecp256k1();
backends[fastest.name] ??= fastest;

for (const [name, secp] of Object.entries(backends)) {
  Deno.test(`conversation key - ${name}'s shared x gives NIP-44's vectors and nostr-tools' keys`, () => {
    assert.equal(valid.length, 35);
    for (const v of valid) {
      const key = conversationKey(hexToBytes(v.sec1), v.pub2, { secp });
      assert.equal(bytesToHex(key), v.conversation_key, `sec1 ${v.sec1}`);
      assert.deepEqual(key, nip44.utils.getConversationKey(hexToBytes(v.sec1), v.pub2));
      // libsodium's HMAC for the HKDF-extract, where it loads: the same key.
      const cipher = nativeNip44();
      if (cipher) {
        assert.equal(
          bytesToHex(conversationKey(hexToBytes(v.sec1), v.pub2, { secp, cipher })),
          v.conversation_key,
        );
      }
    }
  });

  Deno.test(`conversation key - ${name} throws on NIP-44's invalid keys`, () => {
    assert.equal(invalid.length, 8);
    for (const v of invalid) {
      assert.throws(() => conversationKey(hexToBytes(v.sec1), v.pub2, { secp }), Error, v.note);
    }
  });
}

Deno.test("conversation key - without a backend it is nostr-tools' own", () => {
  for (const v of valid.slice(0, 3)) {
    assert.equal(bytesToHex(conversationKey(hexToBytes(v.sec1), v.pub2)), v.conversation_key);
  }
});
