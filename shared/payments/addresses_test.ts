import assert from "node:assert/strict";
import { validatePayoutAddress } from "./addresses.ts";
import { chainOf, type Coin, SUPPORTED_COINS } from "./coins.ts";

type Valid = { case: string; coin: Coin; address: string; normalised: string };
type Invalid = { case: string; coin: Coin; address: string; expect: string };
const VECTORS: { valid: Valid[]; invalid: Invalid[] } = JSON.parse(
  await Deno.readTextFile(new URL("./testdata/addresses.json", import.meta.url)),
);

const BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

function rejected(coin: Coin, address: string): string {
  const check = validatePayoutAddress(coin, address);
  assert.equal(check.ok, false, `${coin} ${address} was accepted`);
  return check.ok ? "" : check.reason;
}

for (const v of VECTORS.valid) {
  Deno.test(`addresses - ${v.case}`, () => {
    assert.deepEqual(validatePayoutAddress(v.coin, v.address), { ok: true, address: v.normalised });
  });
}

for (const v of VECTORS.invalid) {
  Deno.test(`addresses - ${v.case}`, () => {
    const reason = rejected(v.coin, v.address);
    assert.ok(reason.startsWith(`not a valid ${v.coin} address: `), reason);
    assert.ok(reason.includes(v.expect), `expected "${v.expect}" in: ${reason}`);
  });
}

/** Every address that differs from `address` in exactly one character of its alphabet. */
function oneCharacterCorruptions(address: string, alphabet: string): string[] {
  const out: string[] = [];
  const upper = address === address.toUpperCase();
  for (let i = 0; i < address.length; i++) {
    const at = alphabet.indexOf(upper ? address[i].toLowerCase() : address[i]);
    if (at === -1) continue;
    const next = alphabet[(at + 1) % alphabet.length];
    out.push(address.slice(0, i) + (upper ? next.toUpperCase() : next) + address.slice(i + 1));
  }
  return out;
}

for (const chain of ["BTC", "DOGE", "XRP", "ADA"] as const) {
  Deno.test(`addresses - every one-character corruption of a valid ${chain} vector is rejected`, () => {
    const vectors = VECTORS.valid.filter((v) => chainOf(v.coin) === chain);
    assert.ok(vectors.length > 0);
    for (const v of vectors) {
      const bech = v.normalised.startsWith("bc1") || v.normalised.startsWith("addr1");
      // Skip the human-readable part of bech32 strings: changing it is a different network, tested apart.
      const skip = bech ? v.normalised.indexOf("1") + 1 : 0;
      const corrupt = oneCharacterCorruptions(v.address.slice(skip), bech ? BECH32 : BASE58);
      assert.ok(corrupt.length > 0);
      for (const tail of corrupt) rejected(v.coin, v.address.slice(0, skip) + tail);
    }
  });
}

Deno.test("addresses - every one-character corruption of a checksummed EVM vector is rejected", () => {
  const mixed = VECTORS.valid.filter((v) =>
    chainOf(v.coin) === "EVM" && v.address !== v.address.toLowerCase() && /[a-f]/.test(v.address)
  );
  assert.ok(mixed.length >= 4);
  for (const v of mixed) {
    for (let i = 2; i < v.address.length; i++) {
      const c = v.address[i];
      // A letter changes case; a digit becomes the next digit (which changes the keccak hash).
      const swapped = /[0-9]/.test(c)
        ? String((Number(c) + 1) % 10)
        : c === c.toUpperCase()
        ? c.toLowerCase()
        : c.toUpperCase();
      const corrupt = v.address.slice(0, i) + swapped + v.address.slice(i + 1);
      assert.equal(rejected(v.coin, corrupt), `not a valid ${v.coin} address: bad EIP-55 checksum`);
    }
  }
});

Deno.test("addresses - every EVM coin shares the EIP-55 rules", () => {
  const evm = SUPPORTED_COINS.filter((coin) => chainOf(coin) === "EVM");
  assert.deepEqual(evm, ["ETH", "POL", "BNB", "USDC_ETH", "USDC_POL", "USDC_BASE", "USDT_ETH", "USDT_POL"]);
  for (const coin of evm) {
    assert.deepEqual(validatePayoutAddress(coin, "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"), {
      ok: true,
      address: "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    });
  }
});

Deno.test("addresses - every SOL coin accepts a 32-byte base58 account", () => {
  for (const coin of ["SOL", "USDC_SOL", "USDT_SOL"] as const) {
    const check = validatePayoutAddress(coin, "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
    assert.deepEqual(check, { ok: true, address: "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA" });
  }
});

Deno.test("addresses - surrounding whitespace is trimmed before validation", () => {
  assert.deepEqual(validatePayoutAddress("BTC", "  BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4\n"), {
    ok: true,
    address: "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
  });
  assert.deepEqual(validatePayoutAddress("XRP", "\trHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh "), {
    ok: true,
    address: "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh",
  });
});

Deno.test("addresses - an empty, over-long or inner-whitespace address is rejected for every coin", () => {
  for (const coin of SUPPORTED_COINS) {
    assert.equal(rejected(coin, ""), `not a valid ${coin} address: empty`);
    assert.equal(rejected(coin, "   "), `not a valid ${coin} address: empty`);
    assert.equal(rejected(coin, "1".repeat(129)), `not a valid ${coin} address: longer than 128 characters`);
    assert.equal(
      rejected(coin, "rHb9CJAWyB4rj91V RWn96DkukG4bwdtyTh"),
      `not a valid ${coin} address: contains whitespace`,
    );
  }
});

Deno.test("addresses - junk input never throws", () => {
  const junk: unknown[] = [
    undefined,
    null,
    42,
    {},
    "\u0000",
    "bc1",
    "addr1",
    "0x",
    "r",
    "💸",
    "1".repeat(128),
  ];
  for (const coin of SUPPORTED_COINS) {
    for (const address of junk) {
      const check = validatePayoutAddress(coin, address as string);
      assert.equal(check.ok, false);
    }
  }
  const unknownCoin = validatePayoutAddress("LTC" as Coin, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa");
  assert.deepEqual(unknownCoin, { ok: false, reason: "not a supported coin: LTC" });
});
