// NIP-44 v2's conversation key (https://github.com/nostr-protocol/nips/blob/master/44.md):
// HKDF-extract(sha256, IKM = the x coordinate of the ECDH point sk·P, salt = "nip44-v2"). The
// ECDH is the costly half (about 2 ms in pure JavaScript), so a faster secp256k1 backend may
// compute the shared x, and a faster NIP-44 implementation (nip44_cipher.ts) the HKDF-extract.
import { v2 as nip44 } from "nostr-tools/nip44";
import { type Nip44Cipher, NOSTR_TOOLS_NIP44 } from "./nip44_cipher.ts";

/** A secp256k1 backend's ECDH: the 32-byte x of sk·P (P given as x-only hex, even y). */
export interface SharedXBackend {
  sharedX(secretKey: Uint8Array, pubkeyHex: string): Uint8Array;
}

/**
 * The NIP-44 v2 conversation key between a secret key and a public key (hex), with `secp`'s ECDH
 * and `cipher`'s HKDF-extract when given (shared/nostr/secp256k1.ts, nip44_cipher.ts); without
 * `secp`, nostr-tools' pure one. Throws on an invalid key.
 * @example conversationKey(nodeSecret, consumerPubkey, { secp: await fastestSecp256k1() })
 */
export function conversationKey(
  secretKey: Uint8Array,
  pubkeyHex: string,
  opts: { secp?: SharedXBackend; cipher?: Nip44Cipher } = {},
): Uint8Array {
  if (opts.secp === undefined) return nip44.utils.getConversationKey(secretKey, pubkeyHex);
  const x = opts.secp.sharedX(secretKey, pubkeyHex);
  if (x.length !== 32) throw new Error("the backend's shared x is not 32 bytes");
  return (opts.cipher ?? NOSTR_TOOLS_NIP44).keyFromSharedX(x);
}
