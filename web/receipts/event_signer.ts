// Signs event ids with the platform key and checks nodes' receipts. With native libsecp256k1 a
// signature or a check costs ~50 µs, less than handing the event to a worker (structured clone and
// a thread hop: ~400 µs of the main thread per job, measured by a CPU profile under the path bench),
// so it runs inline; with the wasm or pure backends (0.3–2 ms each) it runs in a worker, so a burst
// of receipts never holds up the requests on the main thread.
import type { NostrEvent } from "nostr-tools/pure";
import { PURE_SECP256K1, type Secp256k1Backend, type UnsignedEvent } from "../../shared/mod.ts";

/**
 * Signs batches of events whose ids are fixed and returns the signatures (hex), in order; and
 * checks other signers' events (id and signature), in order.
 */
export interface EventSigner {
  sign(events: UnsignedEvent[]): Promise<string[]>;
  verify(events: NostrEvent[]): Promise<boolean[]>;
  /** Resolves when the signer has answered (a worker's round trip). */
  ping(): Promise<void>;
  /** The kernel id of the thread that signs (a worker's, on Linux), or null: inline, or not learnt. */
  thread(): Promise<number | null>;
  close(): void;
}

/** Signs on the calling thread, with `curve` (nostr-tools' pure code unless told). */
export function inlineSigner(secretKey: Uint8Array, curve: Secp256k1Backend = PURE_SECP256K1): EventSigner {
  return {
    sign: (events) => Promise.resolve(events.map((e) => curve.signEvent(e, secretKey))),
    verify: (events) => Promise.resolve(events.map((e) => curve.verifyEvent({ ...e }))),
    ping: () => Promise.resolve(),
    thread: () => Promise.resolve(null),
    close() {},
  };
}

/** Signs in a dedicated worker. */
export function workerSigner(secretKey: Uint8Array): EventSigner {
  const worker = new Worker(new URL("./sign_worker.ts", import.meta.url), { type: "module" });
  worker.postMessage({ key: secretKey });
  // deno-lint-ignore no-explicit-any
  const pending = new Map<number, { resolve: (answer: any) => void; reject: (err: Error) => void }>();
  let next = 0;
  worker.onmessage = (
    e: MessageEvent<{ n: number; sigs?: string[]; oks?: boolean[]; thread?: number | null }>,
  ) => {
    pending.get(e.data.n)?.resolve("thread" in e.data ? e.data.thread : e.data.sigs ?? e.data.oks ?? []);
    pending.delete(e.data.n);
  };
  const ask = <T>(message: Record<string, unknown>) => {
    const n = next++;
    return new Promise<T>((resolve, reject) => {
      pending.set(n, { resolve, reject });
      worker.postMessage({ n, ...message });
    });
  };
  worker.onerror = (e) => {
    e.preventDefault();
    for (const p of pending.values()) p.reject(new Error(`receipt signer failed: ${e.message}`));
    pending.clear();
  };
  return {
    sign: (events) => events.length === 0 ? Promise.resolve([]) : ask<string[]>({ events }),
    verify: (events) => events.length === 0 ? Promise.resolve([]) : ask<boolean[]>({ verify: events }),
    ping: () => ask<boolean[]>({ verify: [] }).then(() => {}),
    thread: () => ask<number | null>({ thread: true }),
    close() {
      for (const p of pending.values()) p.reject(new Error("receipt signer closed"));
      pending.clear();
      worker.terminate();
    },
  };
}
