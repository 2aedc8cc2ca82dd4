// The receipts' crypto worker, off the control plane's main thread: BIP-340 signatures of events
// whose ids are already fixed, with the platform key, and the check of nodes' receipts (each
// costs a fraction of a millisecond of CPU, and jobs end in bursts). libsecp256k1 (wasm) when it
// loads, else nostr-tools' and @noble/curves' pure code.
import { schnorr } from "@noble/curves/secp256k1.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { type NostrEvent, verifyEvent } from "nostr-tools/pure";
import { loadWasmNostr } from "../../shared/nostr/wasm.ts";

interface SignRequest {
  key?: Uint8Array;
  n?: number;
  events?: Omit<NostrEvent, "sig">[];
  verify?: NostrEvent[];
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

function safely(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}

scope.onmessage = async (e) => {
  const m = e.data;
  if (m.key) {
    key = m.key;
    return;
  }
  const fast = await wasm;
  if (m.verify) {
    const check = fast?.verifyEvent ?? verifyEvent;
    scope.postMessage({ n: m.n, oks: m.verify.map((e) => safely(() => check(e))) });
    return;
  }
  const sigs = (m.events ?? []).map((event) => sign(event, key!, fast));
  scope.postMessage({ n: m.n, sigs });
};
