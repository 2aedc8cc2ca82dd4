// The signature backend for `infernet receipts verify`: nostr-tools' wasm verifier (libsecp256k1)
// when it loads, else its pure one; both behind the one EventVerifier contract. The wasm one is
// about twice as fast on one core (bench/receipts_bench.ts), which a node's whole history needs.
import { verifyEvent as verifyPure } from "nostr-tools/pure";
import { type EventVerifier, loadWasmNostr } from "../../shared/mod.ts";

/** A named backend, so a report or bench can say which one ran. */
export interface NamedVerifier {
  name: "wasm" | "pure";
  verify: EventVerifier;
}

let wasm: Promise<NamedVerifier | null> | null = null;

/** The wasm verifier, initialised once; null when it cannot load here. */
export function loadWasmVerifier(): Promise<NamedVerifier | null> {
  wasm ??= loadWasmNostr().then((w) => (w ? { name: "wasm" as const, verify: w.verifyEvent } : null));
  return wasm;
}

/** nostr-tools' pure JavaScript verifier. */
export const PURE_VERIFIER: NamedVerifier = { name: "pure", verify: verifyPure };

/** The fastest verifier that loads. */
export async function fastestVerifier(): Promise<NamedVerifier> {
  return (await loadWasmVerifier()) ?? PURE_VERIFIER;
}
