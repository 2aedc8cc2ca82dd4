// libsecp256k1 itself, the C library Bitcoin Core and nostr-wasm are built from, through Deno's FFI:
// BIP-340 signing and verification and ECDH about five times faster than its wasm build here
// (bench/receipts_bench.ts). Optional: it needs the shared library (Debian `libsecp256k1-1`,
// Homebrew `secp256k1`; or `INFERNET_LIBSECP256K1=/path/to/lib`) and `--allow-ffi`; without either,
// `nativeSecp256k1()` is null and callers keep the wasm or pure backends.

import { openLibrary } from "../ffi/open_library.ts";

/** What the native library offers, on raw bytes. Every call throws on an invalid key or input. */
export interface NativeCurve {
  /** The 64-byte BIP-340 signature of a 32-byte message hash. */
  sign(hash: Uint8Array, secretKey: Uint8Array): Uint8Array;
  /** Whether `sig` is `pubkey`'s BIP-340 signature of `hash`; false (never a throw) on bad input. */
  verify(sig: Uint8Array, hash: Uint8Array, pubkey: Uint8Array): boolean;
  /** The 32-byte x-only public key. */
  publicKey(secretKey: Uint8Array): Uint8Array;
  /** The x coordinate of secretKey·P, P the even-y point of the x-only `pubkey` (NIP-44's shared x). */
  sharedX(secretKey: Uint8Array, pubkey: Uint8Array): Uint8Array;
  /** Whether the 32 bytes are an x-only public key: the x of a point on the curve. Never throws. */
  isPublicKey(pubkey: Uint8Array): boolean;
}

const SYMBOLS = {
  secp256k1_context_create: { parameters: ["u32"], result: "pointer" },
  secp256k1_context_randomize: { parameters: ["pointer", "buffer"], result: "i32" },
  secp256k1_keypair_create: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  secp256k1_keypair_xonly_pub: { parameters: ["pointer", "buffer", "pointer", "buffer"], result: "i32" },
  secp256k1_xonly_pubkey_parse: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  secp256k1_xonly_pubkey_serialize: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  // sign32 exists from 0.2.0 on, where verify takes the message length: its presence is the version check.
  secp256k1_schnorrsig_sign32: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  secp256k1_schnorrsig_verify: {
    parameters: ["pointer", "buffer", "buffer", "usize", "buffer"],
    result: "i32",
  },
  secp256k1_ec_pubkey_parse: { parameters: ["pointer", "buffer", "buffer", "usize"], result: "i32" },
  secp256k1_ec_pubkey_tweak_mul: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  secp256k1_ec_pubkey_serialize: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "u32"],
    result: "i32",
  },
} as const;

// include/secp256k1.h: SECP256K1_CONTEXT_SIGN | SECP256K1_CONTEXT_VERIFY (accepted by every version),
// SECP256K1_EC_COMPRESSED.
const CONTEXT_SIGN_VERIFY = 0x301;
const EC_COMPRESSED = 0x102;
const LIBRARY_NAMES = ["libsecp256k1.so.2", "libsecp256k1.so.1", "libsecp256k1.so", "libsecp256k1.dylib"];
const KEYPAIR_CACHE = 32;

function bind(lib: Deno.DynamicLibrary<typeof SYMBOLS>): NativeCurve | null {
  const s = lib.symbols;
  const ctx = s.secp256k1_context_create(CONTEXT_SIGN_VERIFY);
  if (ctx === null) return null;
  // Blinding for the signing and ECDH multiplications (side-channel hardening), as the library asks.
  if (s.secp256k1_context_randomize(ctx, crypto.getRandomValues(new Uint8Array(32))) !== 1) return null;

  const keypairs = new Map<string, Uint8Array>();
  // The last key used, compared byte by byte: a process signs with one key almost always, and
  // this skips building the map's string key per signature.
  const lastKey = new Uint8Array(32);
  let lastPair: Uint8Array | null = null;
  function keypair(secretKey: Uint8Array): Uint8Array {
    if (secretKey.length !== 32) throw new Error("secret key must be 32 bytes");
    if (lastPair && sameBytes(lastKey, secretKey)) return lastPair;
    const id = String.fromCharCode(...secretKey);
    let pair = keypairs.get(id);
    if (!pair) {
      pair = new Uint8Array(96);
      if (s.secp256k1_keypair_create(ctx, pair, secretKey) !== 1) throw new Error("invalid secret key");
      if (keypairs.size >= KEYPAIR_CACHE) keypairs.delete(keypairs.keys().next().value!);
      keypairs.set(id, pair);
    }
    lastKey.set(secretKey);
    lastPair = pair;
    return pair;
  }
  let lastPublic: { pair: Uint8Array; key: Uint8Array } | null = null;
  const xonly = new Uint8Array(64);
  const point = new Uint8Array(64);
  const lifted = new Uint8Array(33);
  const compressed = new Uint8Array(33);
  const compressedLength = new BigUint64Array(1);
  // The last key verified against, parsed (a square root): a daemon checks every ticket against
  // the control plane's one key.
  const verifyKey = new Uint8Array(32);
  const verifyPoint = new Uint8Array(64);
  let verifyKeyParsed = false;
  // A key only checked for being on the curve (parsed into a scratch point).
  const parsed = new Uint8Array(64);

  return {
    sign(hash, secretKey) {
      if (hash.length !== 32) throw new Error("message hash must be 32 bytes");
      const sig = new Uint8Array(64);
      const aux = crypto.getRandomValues(new Uint8Array(32));
      if (s.secp256k1_schnorrsig_sign32(ctx, sig, hash, keypair(secretKey), aux) !== 1) {
        throw new Error("signing failed");
      }
      return sig;
    },
    verify(sig, hash, pubkey) {
      if (sig.length !== 64 || hash.length !== 32 || pubkey.length !== 32) return false;
      if (!verifyKeyParsed || !sameBytes(verifyKey, pubkey)) {
        verifyKeyParsed = false;
        if (s.secp256k1_xonly_pubkey_parse(ctx, verifyPoint, pubkey) !== 1) return false;
        verifyKey.set(pubkey);
        verifyKeyParsed = true;
      }
      return s.secp256k1_schnorrsig_verify(ctx, sig, hash, 32n, verifyPoint) === 1;
    },
    publicKey(secretKey) {
      const pair = keypair(secretKey);
      if (pair === lastPublic?.pair) return lastPublic.key.slice();
      const out = new Uint8Array(32);
      if (s.secp256k1_keypair_xonly_pub(ctx, xonly, null, pair) !== 1) {
        throw new Error("invalid secret key");
      }
      s.secp256k1_xonly_pubkey_serialize(ctx, out, xonly);
      lastPublic = { pair, key: out.slice() };
      return out;
    },
    isPublicKey(pubkey) {
      return pubkey.length === 32 && s.secp256k1_xonly_pubkey_parse(ctx, parsed, pubkey) === 1;
    },
    sharedX(secretKey, pubkey) {
      if (secretKey.length !== 32) throw new Error("secret key must be 32 bytes");
      if (pubkey.length !== 32) throw new Error("public key must be 32 bytes (x-only)");
      lifted[0] = 2;
      lifted.set(pubkey, 1);
      if (s.secp256k1_ec_pubkey_parse(ctx, point, lifted, 33n) !== 1) throw new Error("invalid public key");
      // A constant-time multiplication by the secret (ecmult_const), then the point's x.
      if (s.secp256k1_ec_pubkey_tweak_mul(ctx, point, secretKey) !== 1) throw new Error("invalid secret key");
      compressedLength[0] = 33n;
      s.secp256k1_ec_pubkey_serialize(ctx, compressed, compressedLength, point, EC_COMPRESSED);
      return compressed.slice(1);
    },
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

let native: NativeCurve | null | undefined;

/** libsecp256k1 through FFI, opened once; null without the library or `--allow-ffi`. */
export function nativeSecp256k1(): NativeCurve | null {
  if (native === undefined) {
    const lib = openLibrary(LIBRARY_NAMES, SYMBOLS, "INFERNET_LIBSECP256K1");
    native = lib ? bind(lib) : null;
  }
  return native;
}
