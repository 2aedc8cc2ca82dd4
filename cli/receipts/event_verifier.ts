// The signature backend for `infernet receipts verify`: the fastest of shared/nostr/secp256k1.ts
// (libsecp256k1 through FFI when the library is installed, else its wasm build, else nostr-tools'
// pure one), behind the one EventVerifier contract. bench/receipts_bench.ts measures all three.
import {
  type EventVerifier,
  fastestSecp256k1,
  PURE_SECP256K1,
  type Secp256k1Backend,
} from "../../shared/mod.ts";

/** A named backend, so a report or bench can say which one ran. */
export interface NamedVerifier {
  name: Secp256k1Backend["name"];
  verify: EventVerifier;
}

function named(backend: Secp256k1Backend): NamedVerifier {
  return { name: backend.name, verify: backend.verifyEvent };
}

/** nostr-tools' pure JavaScript verifier. */
export const PURE_VERIFIER: NamedVerifier = named(PURE_SECP256K1);

/** The fastest verifier that loads. */
export async function fastestVerifier(): Promise<NamedVerifier> {
  return named(await fastestSecp256k1());
}
