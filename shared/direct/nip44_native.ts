// NIP-44 v2 (https://github.com/nostr-protocol/nips/blob/master/44.md) composed from libsodium's
// HMAC-SHA256 and IETF ChaCha20 through Deno's FFI: the same bytes as nostr-tools' nip44 (the
// reference, checked against the spec's vectors in nip44_vectors_test.ts), a few times less CPU for
// a small frame, because each primitive is one C call instead of JavaScript SHA-256 rounds.
// Optional: it needs the shared library (Debian `libsodium23`, Homebrew `libsodium`; or
// `INFERNET_LIBSODIUM=/path/to/lib`) and `--allow-ffi`; without either, `nativeNip44()` is null.
import { base64 } from "@scure/base";
import { openLibrary } from "../ffi/open_library.ts";
import { NIP44_SALT, type Nip44Cipher } from "./nip44_cipher.ts";

const SYMBOLS = {
  sodium_init: { parameters: [], result: "i32" },
  // HMAC-SHA256 with a 32-byte key (every NIP-44 v2 HMAC key is 32 bytes).
  crypto_auth_hmacsha256: { parameters: ["buffer", "buffer", "u64", "buffer"], result: "i32" },
  // RFC 8439 ChaCha20: 32-byte key, 12-byte nonce, block counter 0.
  crypto_stream_chacha20_ietf_xor: {
    parameters: ["buffer", "buffer", "u64", "buffer", "buffer"],
    result: "i32",
  },
  crypto_verify_32: { parameters: ["buffer", "buffer"], result: "i32" },
} as const;

const LIBRARY_NAMES = ["libsodium.so.26", "libsodium.so.23", "libsodium.so", "libsodium.dylib"];

const MIN_PLAINTEXT = 1;
const MAX_PLAINTEXT = 65_535;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** NIP-44's padded length of a plaintext of `len` bytes (calc_padded_len). */
export function paddedLength(len: number): number {
  if (len <= 32) return 32;
  const nextPower = 2 ** (Math.floor(Math.log2(len - 1)) + 1);
  const chunk = nextPower <= 256 ? 32 : nextPower / 8;
  return chunk * (Math.floor((len - 1) / chunk) + 1);
}

function bind(lib: Deno.DynamicLibrary<typeof SYMBOLS>): Nip44Cipher | null {
  const s = lib.symbols;
  if (s.sodium_init() < 0) return null;
  // HKDF-expand(sha256, PRK = conversation key, info = nonce, 76 bytes) (RFC 5869): three blocks,
  // T(i) = HMAC(PRK, T(i-1) ‖ nonce ‖ i); chacha key, chacha nonce and HMAC key, in that order.
  const block = new Uint8Array(65);
  function messageKeys(conversationKey: Uint8Array, nonce: Uint8Array): Uint8Array {
    if (conversationKey.length !== 32) throw new Error("invalid conversation key length");
    const okm = new Uint8Array(96);
    block.set(nonce, 0);
    block[32] = 1;
    s.crypto_auth_hmacsha256(okm, block.subarray(0, 33), 33n, conversationKey);
    for (let i = 1; i < 3; i++) {
      block.set(okm.subarray(32 * (i - 1), 32 * i), 0);
      block.set(nonce, 32);
      block[64] = i + 1;
      s.crypto_auth_hmacsha256(okm.subarray(32 * i), block, 65n, conversationKey);
    }
    return okm;
  }

  // HKDF-extract is HMAC(salt, x); HMAC pads a short key with zeros to its block (RFC 2104), so
  // the 8-byte salt zero-padded to the 32 bytes this call takes is the same key.
  const salt = new Uint8Array(32);
  salt.set(NIP44_SALT);

  return {
    name: "native",
    keyFromSharedX(sharedX) {
      if (sharedX.length !== 32) throw new Error("the shared x is not 32 bytes");
      const key = new Uint8Array(32);
      s.crypto_auth_hmacsha256(key, sharedX, 32n, salt);
      return key;
    },
    encrypt(plaintext, conversationKey, nonce = crypto.getRandomValues(new Uint8Array(32))) {
      if (nonce.length !== 32) throw new Error("invalid nonce length");
      const unpadded = encoder.encode(plaintext);
      const len = unpadded.length;
      if (len < MIN_PLAINTEXT || len > MAX_PLAINTEXT) {
        throw new Error("invalid plaintext size: must be between 1 and 65535 bytes");
      }
      const keys = messageKeys(conversationKey, nonce);
      const paddedLen = 2 + paddedLength(len);
      // version ‖ nonce ‖ ciphertext ‖ mac, the padded plaintext encrypted in place.
      const out = new Uint8Array(1 + 32 + paddedLen + 32);
      out[0] = 2;
      out.set(nonce, 1);
      const body = out.subarray(33, 33 + paddedLen);
      body[0] = len >> 8;
      body[1] = len & 0xff;
      body.set(unpadded, 2);
      s.crypto_stream_chacha20_ietf_xor(
        body,
        body,
        BigInt(paddedLen),
        keys.subarray(32, 44),
        keys.subarray(0, 32),
      );
      // The MAC covers nonce ‖ ciphertext (the nonce is the AAD), which sit side by side in `out`.
      s.crypto_auth_hmacsha256(
        out.subarray(33 + paddedLen),
        out.subarray(1, 33 + paddedLen),
        BigInt(32 + paddedLen),
        keys.subarray(44, 76),
      );
      keys.fill(0);
      return base64.encode(out);
    },
    decrypt(payload, conversationKey) {
      // The checks and messages of nostr-tools' decodePayload, for v2 payloads.
      if (typeof payload !== "string") throw new Error("payload must be a valid string");
      if (payload.length < 132) throw new Error("invalid payload length: " + payload.length);
      if (payload[0] === "#") throw new Error("unknown encryption version");
      let data: Uint8Array;
      try {
        data = base64.decode(payload);
      } catch (err) {
        throw new Error("invalid base64: " + (err as Error).message);
      }
      if (data.length < 99) throw new Error("invalid data length: " + data.length);
      if (data[0] !== 2) throw new Error("unknown encryption version " + data[0]);
      const nonce = data.subarray(1, 33);
      const ciphertext = data.subarray(33, data.length - 32);
      const mac = data.subarray(data.length - 32);
      const keys = messageKeys(conversationKey, nonce);
      const expected = new Uint8Array(32);
      s.crypto_auth_hmacsha256(
        expected,
        data.subarray(1, data.length - 32),
        BigInt(data.length - 33),
        keys.subarray(44, 76),
      );
      if (s.crypto_verify_32(expected, mac) !== 0) throw new Error("invalid MAC");
      const padded = new Uint8Array(ciphertext.length);
      s.crypto_stream_chacha20_ietf_xor(
        padded,
        ciphertext,
        BigInt(padded.length),
        keys.subarray(32, 44),
        keys.subarray(0, 32),
      );
      keys.fill(0);
      // v2's two-byte length; zero (the prefix of nostr-tools' longer extension) is invalid here.
      const len = (padded[0] << 8) | padded[1];
      if (len < MIN_PLAINTEXT || padded.length !== 2 + paddedLength(len)) throw new Error("invalid padding");
      return decoder.decode(padded.subarray(2, 2 + len));
    },
  };
}

let native: Nip44Cipher | null | undefined;

/** NIP-44 v2 over libsodium through FFI, opened once; null without the library or `--allow-ffi`. */
export function nativeNip44(): Nip44Cipher | null {
  if (native === undefined) {
    const lib = openLibrary(LIBRARY_NAMES, SYMBOLS, "INFERNET_LIBSODIUM");
    native = lib ? bind(lib) : null;
  }
  return native;
}
