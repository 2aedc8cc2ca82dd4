// Payout address validation, one rule set per chain (DESIGN.md "Money": addresses are checked before
// they are stored). Every checksum and encoding comes from @scure/base and @noble/hashes.
import { base58, base58xrp, bech32, bech32m, createBase58check, utils } from "@scure/base";
import { sha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import { type Chain, chainOf, type Coin, isCoin } from "./coins.ts";

/** The outcome of a payout address check: the normalised address, or one sentence saying why not. */
export type AddressCheck = { ok: true; address: string } | { ok: false; reason: string };

/** What a chain's rule set says: the normalised address, or the problem found. */
type ChainCheck = { address: string } | { problem: string };

const MAX_ADDRESS_LENGTH = 128;
/** Bitcoin's base58 alphabet as a character class; XRP's alphabet is a permutation of the same 58. */
const BASE58_CHARS = /^[1-9A-HJ-NP-Za-km-z]+$/;
const BECH32_CHARS = /^[qpzry9x8gf2tvdw0s3jn54khce6mua7l]+$/;
const TESTNET = "testnet address";
const BAD_CHECKSUM = "bad checksum";

const base58check = createBase58check(sha256);
// XRP classic addresses: base58check (double SHA-256, 4 bytes) over XRP's own alphabet.
const base58checkXrp = utils.chain(utils.checksum(4, (data) => sha256(sha256(data))), base58xrp);

/**
 * Validates (and normalises) a payout address for a coin's chain. Never throws.
 * @example validatePayoutAddress("ETH", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
 * // → { ok: true, address: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed" }
 */
export function validatePayoutAddress(coin: Coin, address: string): AddressCheck {
  if (!isCoin(coin)) return { ok: false, reason: `not a supported coin: ${String(coin).slice(0, 32)}` };
  const invalid = (problem: string): AddressCheck => ({
    ok: false,
    reason: `not a valid ${coin} address: ${problem}`,
  });
  if (typeof address !== "string") return invalid("not a string");
  const trimmed = address.trim();
  if (trimmed === "") return invalid("empty");
  if (trimmed.length > MAX_ADDRESS_LENGTH) return invalid(`longer than ${MAX_ADDRESS_LENGTH} characters`);
  if (/\s/.test(trimmed)) return invalid("contains whitespace");
  let result: ChainCheck;
  try {
    result = CHAIN_RULES[chainOf(coin)](trimmed);
  } catch {
    // The rules catch the libraries' errors themselves; this only keeps the never-throws promise.
    result = { problem: "could not be decoded" };
  }
  return "address" in result ? { ok: true, address: result.address } : invalid(result.problem);
}

const CHAIN_RULES: Record<Chain, (address: string) => ChainCheck> = {
  BTC: checkBitcoin,
  DOGE: checkDogecoin,
  EVM: checkEvm,
  SOL: checkSolana,
  XRP: checkXrp,
  ADA: checkCardano,
};

function checkBitcoin(address: string): ChainCheck {
  const lower = address.toLowerCase();
  if (lower.startsWith("tb1") || lower.startsWith("bcrt1")) return { problem: TESTNET };
  if (lower.startsWith("bc1")) return checkSegwit(address);
  if (/^[a-z]{1,83}1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{6,}$/.test(lower) && !BASE58_CHARS.test(address)) {
    return { problem: "wrong bech32 prefix (expected bc1…)" };
  }
  return checkBase58Check(address, { mainnet: [0x00, 0x05], testnet: [0x6f, 0xc4] });
}

function checkDogecoin(address: string): ChainCheck {
  return checkBase58Check(address, { mainnet: [0x1e, 0x16], testnet: [0x71, 0xc4] });
}

/** Base58check with a one-byte version and a 20-byte hash (P2PKH / P2SH). */
function checkBase58Check(address: string, versions: { mainnet: number[]; testnet: number[] }): ChainCheck {
  if (!BASE58_CHARS.test(address)) return { problem: "invalid base58 character" };
  const payload = tryDecode(() => base58check.decode(address));
  if (!payload) return { problem: BAD_CHECKSUM };
  if (payload.length !== 21) return { problem: `wrong length (${payload.length} bytes, expected 21)` };
  if (versions.mainnet.includes(payload[0])) return { address };
  if (versions.testnet.includes(payload[0])) return { problem: TESTNET };
  return { problem: `unexpected version byte 0x${payload[0].toString(16).padStart(2, "0")}` };
}

/** Native segwit on mainnet (hrp `bc`): BIP-173 bech32 for witness v0, BIP-350 bech32m for v1..v16. */
function checkSegwit(address: string): ChainCheck {
  const lower = address.toLowerCase();
  if (address !== lower && address !== address.toUpperCase()) return { problem: "mixed case" };
  if (lower.length > 90) return { problem: "longer than 90 characters" };
  if (!BECH32_CHARS.test(lower.slice(3))) return { problem: "invalid bech32 character" };
  const asBech32 = bech32.decodeUnsafe(lower);
  const asBech32m = bech32m.decodeUnsafe(lower);
  const decoded = asBech32 ?? asBech32m;
  if (!decoded) return { problem: BAD_CHECKSUM };
  const [version, ...programWords] = decoded.words;
  if (version === undefined) return { problem: "empty data section" };
  if (version > 16) return { problem: `invalid witness version ${version}` };
  const program = bech32.fromWordsUnsafe(programWords);
  if (!program) return { problem: "invalid padding" };
  if (version === 0) {
    if (!asBech32) return { problem: "witness v0 must use bech32, not bech32m (BIP-350)" };
    if (program.length !== 20 && program.length !== 32) {
      return { problem: `witness v0 program must be 20 or 32 bytes, not ${program.length}` };
    }
  } else {
    if (!asBech32m) return { problem: `witness v${version} must use bech32m, not bech32 (BIP-350)` };
    if (program.length < 2 || program.length > 40) {
      return { problem: `witness program must be 2 to 40 bytes, not ${program.length}` };
    }
  }
  return { address: lower };
}

/** EIP-55: all-lower or all-upper hex is normalised to the checksummed form; mixed case must match it. */
function checkEvm(address: string): ChainCheck {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) return { problem: "expected 0x followed by 40 hex digits" };
  const hex = address.slice(2);
  const lower = hex.toLowerCase();
  if (/^0+$/.test(lower)) return { problem: "the zero address" };
  const checksummed = toEip55(lower);
  if (hex === lower || hex === hex.toUpperCase() || address === checksummed) return { address: checksummed };
  return { problem: "bad EIP-55 checksum" };
}

function toEip55(lowerHex: string): string {
  const hash = bytesToHex(keccak_256(utf8ToBytes(lowerHex)));
  let out = "0x";
  for (let i = 0; i < lowerHex.length; i++) {
    out += parseInt(hash[i], 16) >= 8 ? lowerHex[i].toUpperCase() : lowerHex[i];
  }
  return out;
}

/** A Solana account is any 32-byte value (an ed25519 key or a program-derived address) in base58. */
function checkSolana(address: string): ChainCheck {
  if (!BASE58_CHARS.test(address)) return { problem: "invalid base58 character" };
  const bytes = tryDecode(() => base58.decode(address));
  if (!bytes) return { problem: "not base58" };
  if (bytes.length !== 32) return { problem: `decodes to ${bytes.length} bytes, expected 32` };
  return { address };
}

/** XRP classic address: version 0x00 and a 20-byte account id, base58check in XRP's alphabet. */
function checkXrp(address: string): ChainCheck {
  if (address.startsWith("X")) return { problem: "X-addresses are not accepted, use the classic r… address" };
  if (address.startsWith("T")) return { problem: TESTNET };
  if (!address.startsWith("r")) return { problem: "classic addresses start with r" };
  if (!BASE58_CHARS.test(address)) return { problem: "invalid base58 character" };
  const payload = tryDecode(() => base58checkXrp.decode(address));
  if (!payload) return { problem: BAD_CHECKSUM };
  if (payload.length !== 21 || payload[0] !== 0x00) return { problem: "not a classic account address" };
  if (payload.subarray(1).every((b) => b === 0)) {
    return { problem: "the zero account (no one can spend from it)" };
  }
  return { address };
}

/** Cardano Shelley payment address (CIP-19): bech32 with hrp `addr`, mainnet network id 1. */
function checkCardano(address: string): ChainCheck {
  if (address.startsWith("Ae2") || address.startsWith("DdzFF")) {
    return { problem: "Byron address; only Shelley addr1… addresses are accepted" };
  }
  const lower = address.toLowerCase();
  if (address !== lower && address !== address.toUpperCase()) return { problem: "mixed case" };
  if (lower.startsWith("addr_test1")) return { problem: TESTNET };
  if (lower.startsWith("stake")) return { problem: "a stake address, not a payment address" };
  if (!lower.startsWith("addr1")) return { problem: "only Shelley addr1… addresses are accepted" };
  if (!BECH32_CHARS.test(lower.slice(5))) return { problem: "invalid bech32 character" };
  // CIP-19 addresses exceed bech32's 90-character limit (a base address is 103), so lift it.
  const decoded = bech32.decodeUnsafe(lower, false);
  if (!decoded) return { problem: BAD_CHECKSUM };
  const bytes = bech32.fromWordsUnsafe(decoded.words);
  if (!bytes || bytes.length === 0) return { problem: "invalid padding" };
  const type = bytes[0] >> 4;
  const network = bytes[0] & 0x0f;
  if (network === 0) return { problem: TESTNET };
  if (network !== 1) return { problem: `unknown network id ${network}` };
  // Header types 0-3 are base addresses (payment + stake credential), 6-7 enterprise (payment only).
  const expected = type <= 3 ? 57 : type === 6 || type === 7 ? 29 : undefined;
  if (type === 4 || type === 5) return { problem: "pointer addresses are not accepted" };
  if (expected === undefined) return { problem: `header type ${type} is not a payment address` };
  if (bytes.length !== expected) {
    return { problem: `wrong length (${bytes.length} bytes, expected ${expected})` };
  }
  return { address: lower };
}

function tryDecode(decode: () => Uint8Array): Uint8Array | undefined {
  try {
    return decode();
  } catch {
    return undefined;
  }
}
