// Receipt verification throughput on one core (issue 27: `infernet receipts verify` ≥ 5,000
// receipts/s), for a node's chain of platform + node receipt pairs, per signature backend:
//   a. nostr-tools' pure `verifyEvent` (noble schnorr inside);
//   b. @noble/curves `schnorr.verify` directly on the id, after recomputing the id (sha256 of
//      the NIP-01 serialisation);
//   c. nostr-tools' wasm verifier (libsecp256k1, the nostr-wasm package), when it loads;
//   n. libsecp256k1 itself through Deno's FFI (shared/nostr/native.ts), when the library is
//      installed (Debian libsecp256k1-1) and --allow-ffi is given;
//   e. an experiment, not a backend: (b) with each signer's lifted point cached and given
//      wNAF tables (a node's receipts share two keys), BIP-340 verify written out over noble's
//      Point; it is hand-assembled crypto, so it stays here unless the house decides otherwise;
// then the whole command's check (verifyReceipts: content, keys, hashes, chains) with the backend
// the CLI picks. Each event is a fresh JSON copy, so no verification mark is reused. Rates are
// per CPU second of this process (one core: the JavaScript runs on one thread) and per wall
// second; on a shared VM the wall figure drops when other work runs, the CPU one much less.
// Run: deno run --allow-all bench/receipts_bench.ts [pairs]
import process from "node:process";
import { getEventHash, type NostrEvent, verifyEvent as verifyPure } from "nostr-tools/pure";
import { schnorr, secp256k1 } from "@noble/curves/secp256k1.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { type EventVerifier, loadWasmNostr, nativeBackend, nativeSecp256k1 } from "../shared/mod.ts";
import { fastestVerifier } from "../cli/receipts/event_verifier.ts";
import { verifyReceipts } from "../cli/receipts/verify_receipts.ts";
import { receiptChain } from "../testing/receipts.ts";

const pairs = Number(Deno.args[0] ?? 20_000);
if (!Number.isSafeInteger(pairs) || pairs < 1) throw new Error("usage: receipts_bench.ts [pairs]");

const nodeKey = generateSecretKey();
const platformKey = generateSecretKey();
const t0 = performance.now();
const items = receiptChain({ nodeKey, platformKey, count: pairs });
const wire: string = JSON.stringify(items);
console.log(`receipts: built and signed ${pairs} pairs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

/** Fresh events off the wire, as the command sees them. */
function events(): NostrEvent[] {
  const parsed = JSON.parse(wire) as { receipt: NostrEvent; node_receipt: NostrEvent }[];
  return parsed.flatMap((it) => [it.receipt, it.node_receipt]);
}

const noble: EventVerifier = (e) =>
  getEventHash(e) === e.id && schnorr.verify(hexToBytes(e.sig), hexToBytes(e.id), hexToBytes(e.pubkey));

type Point = typeof secp256k1.Point.BASE;
const { Point } = secp256k1;
const lifted = new Map<string, Point>();
const precomputed: EventVerifier = (e) => {
  if (getEventHash(e) !== e.id) return false;
  try {
    let P = lifted.get(e.pubkey);
    if (!P) {
      P = schnorr.utils.lift_x(BigInt("0x" + e.pubkey));
      P.precompute(8, false);
      lifted.set(e.pubkey, P);
    }
    const r = BigInt("0x" + e.sig.slice(0, 64));
    const s = BigInt("0x" + e.sig.slice(64));
    if (!Point.Fp.isValidNot0(r) || !Point.Fn.isValidNot0(s)) return false;
    const challenge = schnorr.utils.taggedHash(
      "BIP0340/challenge",
      hexToBytes(e.sig.slice(0, 64)),
      schnorr.utils.pointToBytes(P),
      hexToBytes(e.id),
    );
    const eNeg = Point.Fn.neg(Point.Fn.create(BigInt("0x" + bytesToHex(challenge))));
    const R = Point.BASE.multiplyUnsafe(s).add(P.multiplyUnsafe(eNeg));
    if (R.is0()) return false;
    const { x, y } = R.toAffine();
    return (y & 1n) === 0n && x === r;
  } catch {
    return false;
  }
};

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US").padStart(7);

/** Times `work` over `count` receipts; prints and returns receipts per CPU second. */
function timed(name: string, count: number, work: () => void): number {
  const [wall0, cpu0] = [performance.now(), cpuSeconds()];
  work();
  const wall = (performance.now() - wall0) / 1000;
  const cpu = cpuSeconds() - cpu0;
  console.log(
    `receipts: ${name.padEnd(40)} ${fmt(count / cpu)} receipts/s per CPU s, ${
      fmt(count / wall)
    } per wall s ` +
      `(${count} in ${cpu.toFixed(2)} CPU s)`,
  );
  return count / cpu;
}

function measure(name: string, verify: EventVerifier): number {
  const list = events();
  for (const e of events().slice(0, 200)) verify(e); // warm the JIT, untimed
  let bad = 0;
  const rate = timed(name, list.length, () => {
    for (const e of list) if (!verify(e)) bad++;
  });
  if (bad > 0) throw new Error(`${name}: ${bad} valid receipts refused`);
  return rate;
}

const rates: Record<string, number> = {};
rates.pure = measure("a. nostr-tools pure verifyEvent", verifyPure);
rates.noble = measure("b. @noble/curves schnorr on the id", noble);
const wasm = await loadWasmNostr();
if (wasm) rates.wasm = measure("c. nostr-tools wasm verifyEvent", wasm.verifyEvent);
else console.log("receipts: c. nostr-tools wasm verifyEvent              skipped (nostr-wasm did not load)");
const native = nativeSecp256k1();
if (native) rates.native = measure("n. libsecp256k1 through FFI", nativeBackend(native).verifyEvent);
else {console.log(
    "receipts: n. libsecp256k1 through FFI                  skipped (no library or no --allow-ffi)",
  );}

// (e) must refuse what noble refuses before its speed means anything.
const sample = events().slice(0, 50);
for (const [i, e] of sample.entries()) {
  const other = sample[(i + 1) % sample.length];
  for (
    const bad of [{ ...e, sig: other.sig }, { ...e, content: e.content + " " }, {
      ...e,
      pubkey: other.pubkey,
    }]
  ) {
    if (precomputed(bad) !== noble(bad)) throw new Error("e. disagrees with noble on a bad event");
  }
}
rates.precomputed = measure("e. noble, signer points precomputed", precomputed);

const backend = await fastestVerifier();
const set = { items: JSON.parse(wire), events: [] };
const platform = getPublicKey(platformKey);
let problems = 0;
timed(`d. receipts verify (${backend.name}, all checks)`, pairs * 2, () => {
  problems = verifyReceipts(set, { platformPubkey: platform, verifyEvent: backend.verify }).problems.length;
});
if (problems > 0) throw new Error(`${problems} problems in a clean chain`);
const best = Object.entries(rates).sort((a, b) => b[1] - a[1])[0];
console.log(
  `receipts: fastest here ${best[0]} (${fmt(best[1]).trim()}/s); the CLI uses ${backend.name}; ` +
    "target 5,000 receipts/s on one core",
);
