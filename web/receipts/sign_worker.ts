// The receipts' crypto worker, off the control plane's main thread: BIP-340 signatures of events
// whose ids are already fixed, with the platform key, and the check of nodes' receipts (each
// costs a fraction of a millisecond of CPU, and jobs end in bursts). The fastest backend that loads
// (shared/nostr/secp256k1.ts): libsecp256k1 native, its wasm build, or nostr-tools' pure code.
import type { NostrEvent } from "nostr-tools/pure";
import { fastestSecp256k1 } from "../../shared/nostr/secp256k1.ts";
import { currentThreadId } from "../../db/worker_priority.ts";

interface SignRequest {
  key?: Uint8Array;
  n?: number;
  events?: Omit<NostrEvent, "sig">[];
  verify?: NostrEvent[];
  /** Asks for this worker's kernel thread id (its priority is lowered by it). */
  thread?: true;
}

const scope = self as unknown as {
  onmessage: (e: MessageEvent<SignRequest>) => void;
  postMessage(m: unknown): void;
};

let key: Uint8Array | null = null;
const backend = fastestSecp256k1();

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
  if (m.thread) {
    scope.postMessage({ n: m.n, thread: currentThreadId() });
    return;
  }
  const curve = await backend;
  if (m.verify) {
    scope.postMessage({ n: m.n, oks: m.verify.map((e) => safely(() => curve.verifyEvent(e))) });
    return;
  }
  const sigs = (m.events ?? []).map((event) => curve.signEvent(event, key!));
  scope.postMessage({ n: m.n, sigs });
};
