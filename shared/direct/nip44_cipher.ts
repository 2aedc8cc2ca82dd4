// The NIP-44 v2 implementation that seals and opens direct-mode frames: nostr-tools' nip44 (pure
// JavaScript on @noble, the reference) by default, or one with the same contract and the same
// bytes (nip44_native.ts: libsodium through FFI), passed in where CPU per request matters.
import { v2 as nip44 } from "nostr-tools/nip44";
import { extract } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { nativeNip44 } from "./nip44_native.ts";

/** NIP-44 v2's encrypt and decrypt, as nostr-tools' `v2` has them. */
export interface Nip44Cipher {
  name: "nostr-tools" | "native";
  /** The base64 payload of `plaintext` (1 to 65,535 UTF-8 bytes); `nonce` for test vectors only. */
  encrypt(plaintext: string, conversationKey: Uint8Array, nonce?: Uint8Array): string;
  /** The plaintext of a payload; throws on anything that does not decrypt (MAC, padding, base64). */
  decrypt(payload: string, conversationKey: Uint8Array): string;
  /** The conversation key from the ECDH's 32-byte shared x: HKDF-extract(sha256, x, salt "nip44-v2"). */
  keyFromSharedX(sharedX: Uint8Array): Uint8Array;
}

/** NIP-44 v2's HKDF salt. */
export const NIP44_SALT = new TextEncoder().encode("nip44-v2");

/** nostr-tools' nip44 v2. */
export const NOSTR_TOOLS_NIP44: Nip44Cipher = {
  name: "nostr-tools",
  encrypt: (plaintext, key, nonce) => nip44.encrypt(plaintext, key, nonce),
  decrypt: (payload, key) => nip44.decrypt(payload, key),
  keyFromSharedX: (sharedX) => extract(sha256, sharedX, NIP44_SALT),
};

/** The fastest NIP-44 v2 here: native (libsodium + `--allow-ffi`), else nostr-tools'. */
export function fastestNip44(): Nip44Cipher {
  return nativeNip44() ?? NOSTR_TOOLS_NIP44;
}
