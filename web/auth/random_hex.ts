// Random tokens for the dashboard (session ids, challenges, device codes, form tokens).
import { bytesToHex } from "@noble/hashes/utils.js";

/** `bytes` cryptographically random bytes, as lowercase hex. */
export function randomHex(bytes: number): string {
  return bytesToHex(crypto.getRandomValues(new Uint8Array(bytes)));
}
