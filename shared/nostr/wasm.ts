// nostr-tools' libsecp256k1 backend (npm nostr-wasm): the same NIP-01 signing and verification as
// the pure JavaScript one, about twice as fast (bench/receipts_bench.ts). Loaded once; null where
// the wasm cannot load, and callers keep the pure functions.
import type { NostrEvent, VerifiedEvent } from "nostr-tools/pure";
import { finalizeEvent, setNostrWasm, verifyEvent } from "nostr-tools/wasm";
import { initNostrWasm } from "nostr-wasm";

/** Signing and verification by libsecp256k1. */
export interface WasmNostr {
  finalizeEvent: (template: Omit<NostrEvent, "id" | "pubkey" | "sig">, secretKey: Uint8Array) => NostrEvent;
  verifyEvent: (event: NostrEvent) => event is VerifiedEvent;
}

let loaded: Promise<WasmNostr | null> | null = null;

/** The wasm backend, initialised on first use; null when it cannot load here. */
export function loadWasmNostr(): Promise<WasmNostr | null> {
  loaded ??= initNostrWasm().then(
    (nw) => {
      setNostrWasm(nw);
      return { finalizeEvent: finalizeEvent as WasmNostr["finalizeEvent"], verifyEvent };
    },
    () => null,
  );
  return loaded;
}
