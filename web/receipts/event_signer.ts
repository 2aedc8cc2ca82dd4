// Signs event ids with the platform key: in a worker in production, so a burst of receipts never
// holds up the requests on the main thread; inline where a worker is not wanted (tests, tools).
import { schnorr } from "@noble/curves/secp256k1.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { type NostrEvent, verifyEvent } from "nostr-tools/pure";
import type { UnsignedEvent } from "../../shared/mod.ts";

/**
 * Signs batches of events whose ids are fixed and returns the signatures (hex), in order; and
 * checks other signers' events (id and signature), in order.
 */
export interface EventSigner {
  sign(events: UnsignedEvent[]): Promise<string[]>;
  verify(events: NostrEvent[]): Promise<boolean[]>;
  /** Resolves when the signer has answered (a worker's round trip). */
  ping(): Promise<void>;
  close(): void;
}

/** Signs on the calling thread. */
export function inlineSigner(secretKey: Uint8Array): EventSigner {
  return {
    sign: (events) =>
      Promise.resolve(events.map((e) => bytesToHex(schnorr.sign(hexToBytes(e.id), secretKey)))),
    verify: (events) => Promise.resolve(events.map((e) => verifyEvent({ ...e }))),
    ping: () => Promise.resolve(),
    close() {},
  };
}

/** Signs in a dedicated worker. */
export function workerSigner(secretKey: Uint8Array): EventSigner {
  const worker = new Worker(new URL("./sign_worker.ts", import.meta.url), { type: "module" });
  worker.postMessage({ key: secretKey });
  // deno-lint-ignore no-explicit-any
  const pending = new Map<number, { resolve: (answer: any[]) => void; reject: (err: Error) => void }>();
  let next = 0;
  worker.onmessage = (e: MessageEvent<{ n: number; sigs?: string[]; oks?: boolean[] }>) => {
    pending.get(e.data.n)?.resolve(e.data.sigs ?? e.data.oks ?? []);
    pending.delete(e.data.n);
  };
  worker.onerror = (e) => {
    e.preventDefault();
    for (const p of pending.values()) p.reject(new Error(`receipt signer failed: ${e.message}`));
    pending.clear();
  };
  return {
    sign(events) {
      if (events.length === 0) return Promise.resolve([]);
      const n = next++;
      return new Promise((resolve, reject) => {
        pending.set(n, { resolve, reject });
        worker.postMessage({ n, events });
      });
    },
    verify(events) {
      if (events.length === 0) return Promise.resolve([]);
      const n = next++;
      return new Promise((resolve, reject) => {
        pending.set(n, { resolve, reject });
        worker.postMessage({ n, verify: events });
      });
    },
    ping() {
      const n = next++;
      return new Promise((resolve, reject) => {
        pending.set(n, { resolve: () => resolve(), reject });
        worker.postMessage({ n, verify: [] });
      });
    },
    close() {
      for (const p of pending.values()) p.reject(new Error("receipt signer closed"));
      pending.clear();
      worker.terminate();
    },
  };
}
