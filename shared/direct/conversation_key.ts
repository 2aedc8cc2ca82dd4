// NIP-44 v2's conversation key (https://github.com/nostr-protocol/nips/blob/master/44.md):
// HKDF-extract(sha256, IKM = the x coordinate of the ECDH point sk·P, salt = "nip44-v2"). The
// ECDH is the costly half (about 2 ms in pure JavaScript), so a faster secp256k1 backend may
// compute the shared x; nostr-tools' nip44 does everything else (cipher, padding, MAC).
import { v2 as nip44 } from "nostr-tools/nip44";
import { extract } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";

/** A secp256k1 backend's ECDH: the 32-byte x of sk·P (P given as x-only hex, even y). */
export interface SharedXBackend {
  sharedX(secretKey: Uint8Array, pubkeyHex: string): Uint8Array;
}

const SALT = new TextEncoder().encode("nip44-v2");

/**
 * The NIP-44 v2 conversation key between a secret key and a public key (hex), with `secp`'s ECDH
 * when given (shared/nostr/secp256k1.ts), else nostr-tools' pure one. Throws on an invalid key.
 * @example conversationKey(nodeSecret, consumerPubkey, { secp: await fastestSecp256k1() })
 */
export function conversationKey(
  secretKey: Uint8Array,
  pubkeyHex: string,
  opts: { secp?: SharedXBackend } = {},
): Uint8Array {
  if (opts.secp === undefined) return nip44.utils.getConversationKey(secretKey, pubkeyHex);
  const x = opts.secp.sharedX(secretKey, pubkeyHex);
  if (x.length !== 32) throw new Error("the backend's shared x is not 32 bytes");
  return extract(sha256, x, SALT);
}
