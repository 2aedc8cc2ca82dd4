// The receipt signer's worker: BIP-340 signatures of events whose ids are already fixed, with the
// platform key, off the control plane's main thread (each costs a fraction of a millisecond of
// CPU, and jobs end in bursts). libsecp256k1 (wasm) when it loads, else @noble/curves.
import { schnorr } from "@noble/curves/secp256k1.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import type { NostrEvent } from "nostr-tools/pure";
import { loadWasmNostr } from "../../shared/nostr/wasm.ts";

interface SignRequest {
  key?: Uint8Array;
  n?: number;
  events?: Omit<NostrEvent, "sig">[];
}

const scope = self as unknown as {
  onmessage: (e: MessageEvent<SignRequest>) => void;
  postMessage(m: unknown): void;
};

let key: Uint8Array | null = null;
const wasm = loadWasmNostr();

function sign(event: Omit<NostrEvent, "sig">, secretKey: Uint8Array, fast: Awaited<typeof wasm>): string {
  if (fast) {
    const signed = fast.finalizeEvent(
      { kind: event.kind, created_at: event.created_at, tags: event.tags, content: event.content },
      secretKey,
    );
    if (signed.id === event.id) return signed.sig;
  }
  return bytesToHex(schnorr.sign(hexToBytes(event.id), secretKey));
}

scope.onmessage = async (e) => {
  const m = e.data;
  if (m.key) {
    key = m.key;
    return;
  }
  const fast = await wasm;
  const sigs = (m.events ?? []).map((event) => sign(event, key!, fast));
  scope.postMessage({ n: m.n, sigs });
};
