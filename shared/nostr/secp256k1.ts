// One interface for the three secp256k1 backends that sign and verify Nostr events and compute
// NIP-44's shared secret: libsecp256k1 through FFI (native.ts), libsecp256k1 as wasm (npm nostr-wasm,
// via nostr-tools/wasm) and nostr-tools' pure JavaScript on @noble/curves. All three give the same
// answers (secp256k1_test.ts checks them against each other and the BIP-340 vectors); they differ in
// speed only, so callers take `fastestSecp256k1()` and tests pass the one they want.
import { createECDH, createHash } from "node:crypto";
import { schnorr, secp256k1 } from "@noble/curves/secp256k1.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import {
  type EventTemplate,
  finalizeEvent as finalizePure,
  getPublicKey as getPublicKeyPure,
  type NostrEvent,
  serializeEvent,
  type VerifiedEvent,
  verifiedSymbol,
  verifyEvent as verifyPure,
} from "nostr-tools/pure";
import { type NativeCurve, nativeSecp256k1 } from "./native.ts";
import { loadWasmNostr } from "./wasm.ts";

/** Event signing and verification plus ECDH, on one curve implementation. */
export interface Secp256k1Backend {
  readonly name: "native" | "wasm" | "pure";
  /** nostr-tools' finalizeEvent: id, pubkey and signature. Throws on an invalid secret key. */
  finalizeEvent(template: EventTemplate, secretKey: Uint8Array): VerifiedEvent;
  /** nostr-tools' verifyEvent: the id is the event's hash and the signature its pubkey's. Never throws. */
  verifyEvent(event: NostrEvent): event is VerifiedEvent;
  /** The BIP-340 signature (hex) of an event whose id is already computed, e.g. in a worker. */
  signEvent(event: Omit<NostrEvent, "sig">, secretKey: Uint8Array): string;
  /** The x-only public key, hex. */
  getPublicKey(secretKey: Uint8Array): string;
  /** The x coordinate of secretKey·P for an x-only public key (hex): NIP-44 v2's shared secret. */
  sharedX(secretKey: Uint8Array, pubkeyHex: string): Uint8Array;
  /**
   * Whether `hex` is an x-only public key: 64 lower-case hex characters, the x of a curve point
   * (a square root mod p: ~85 µs in JavaScript, a few in libsecp256k1). Never throws.
   */
  isPublicKey(hex: string): boolean;
}

// OpenSSL's (node:crypto) ECDH: ten times noble's speed where Deno's node compatibility has it.
function opensslSharedX(secretKey: Uint8Array, pubkeyHex: string): Uint8Array {
  try {
    const ecdh = createECDH("secp256k1");
    ecdh.setPrivateKey(secretKey);
    return new Uint8Array(ecdh.computeSecret(hexToBytes("02" + pubkeyHex)));
  } catch {
    return nobleSharedX(secretKey, pubkeyHex);
  }
}

function nobleSharedX(secretKey: Uint8Array, pubkeyHex: string): Uint8Array {
  return secp256k1.getSharedSecret(secretKey, hexToBytes("02" + pubkeyHex)).subarray(1, 33);
}

function nobleIsPublicKey(hex: string): boolean {
  if (!isHex(hex, 64)) return false;
  try {
    schnorr.utils.lift_x(BigInt("0x" + hex));
    return true;
  } catch {
    return false;
  }
}

function nobleSignEvent(event: Omit<NostrEvent, "sig">, secretKey: Uint8Array): string {
  return bytesToHex(schnorr.sign(hexToBytes(event.id), secretKey));
}

/** nostr-tools' pure JavaScript (@noble/curves): runs anywhere, the slowest. */
export const PURE_SECP256K1: Secp256k1Backend = {
  name: "pure",
  finalizeEvent: finalizePure,
  verifyEvent: verifyPure,
  signEvent: nobleSignEvent,
  getPublicKey: getPublicKeyPure,
  sharedX: nobleSharedX,
  isPublicKey: nobleIsPublicKey,
};

/** NIP-01's event id, by OpenSSL's SHA-256 (nostr-tools' getEventHash: same bytes, @noble/hashes, slower). */
export function eventHash(event: Omit<NostrEvent, "id" | "sig">): string {
  return createHash("sha256").update(serializeEvent(event), "utf8").digest("hex");
}

function isHex(s: unknown, length: number): s is string {
  return typeof s === "string" && s.length === length && /^[0-9a-f]*$/.test(s);
}

/** The event functions over libsecp256k1's native calls. */
export function nativeBackend(curve: NativeCurve): Secp256k1Backend {
  const finalizeEvent = (t: EventTemplate, secretKey: Uint8Array): VerifiedEvent => {
    const pubkey = bytesToHex(curve.publicKey(secretKey));
    const event = {
      kind: t.kind,
      tags: t.tags,
      content: t.content,
      created_at: t.created_at,
      pubkey,
    } as NostrEvent;
    event.id = eventHash(event);
    event.sig = bytesToHex(curve.sign(hexToBytes(event.id), secretKey));
    (event as VerifiedEvent)[verifiedSymbol] = true;
    return event as VerifiedEvent;
  };
  const verifyEvent = (event: NostrEvent): event is VerifiedEvent => {
    const cached = (event as { [verifiedSymbol]?: boolean })[verifiedSymbol];
    if (typeof cached === "boolean") return cached;
    let ok = false;
    try {
      ok = isHex(event.id, 64) && isHex(event.sig, 128) && isHex(event.pubkey, 64) &&
        eventHash(event) === event.id &&
        curve.verify(hexToBytes(event.sig), hexToBytes(event.id), hexToBytes(event.pubkey));
    } catch {
      ok = false;
    }
    (event as { [verifiedSymbol]?: boolean })[verifiedSymbol] = ok;
    return ok;
  };
  return {
    name: "native",
    finalizeEvent,
    verifyEvent,
    signEvent: (event, secretKey) => bytesToHex(curve.sign(hexToBytes(event.id), secretKey)),
    getPublicKey: (secretKey) => bytesToHex(curve.publicKey(secretKey)),
    sharedX: (secretKey, pubkeyHex) => curve.sharedX(secretKey, hexToBytes(pubkeyHex)),
    isPublicKey: (hex) => isHex(hex, 64) && curve.isPublicKey(hexToBytes(hex)),
  };
}

let fastest: Promise<Secp256k1Backend> | null = null;

/** The fastest backend that loads here: native (libsecp256k1 + `--allow-ffi`), else wasm, else pure. */
export function fastestSecp256k1(): Promise<Secp256k1Backend> {
  fastest ??= (async () => {
    const curve = nativeSecp256k1();
    if (curve) return nativeBackend(curve);
    const wasm = await loadWasmNostr();
    if (!wasm) return PURE_SECP256K1;
    const finalizeEvent = wasm.finalizeEvent as Secp256k1Backend["finalizeEvent"];
    return {
      name: "wasm" as const,
      finalizeEvent,
      verifyEvent: wasm.verifyEvent,
      // nostr-wasm signs whole events only: sign the event again, and fall back to noble should the
      // id it computes differ from the one given.
      signEvent: (event, secretKey) => {
        const { kind, created_at, tags, content } = event;
        const signed = finalizeEvent({ kind, created_at, tags, content }, secretKey);
        return signed.id === event.id ? signed.sig : nobleSignEvent(event, secretKey);
      },
      getPublicKey: getPublicKeyPure,
      sharedX: opensslSharedX,
      isPublicKey: nobleIsPublicKey,
    };
  })();
  return fastest!;
}
