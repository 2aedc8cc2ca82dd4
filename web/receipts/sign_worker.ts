// The receipt signer's worker: BIP-340 signatures of event ids with the platform key, off the
// control plane's main thread (each costs about a millisecond of CPU, and jobs end in bursts).
import { schnorr } from "@noble/curves/secp256k1.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";

interface SignRequest {
  key?: Uint8Array;
  n?: number;
  ids?: string[];
}

const scope = self as unknown as {
  onmessage: (e: MessageEvent<SignRequest>) => void;
  postMessage(m: unknown): void;
};

let key: Uint8Array | null = null;

scope.onmessage = (e) => {
  const m = e.data;
  if (m.key) {
    key = m.key;
    return;
  }
  const sigs = (m.ids ?? []).map((id) => bytesToHex(schnorr.sign(hexToBytes(id), key!)));
  scope.postMessage({ n: m.n, sigs });
};
