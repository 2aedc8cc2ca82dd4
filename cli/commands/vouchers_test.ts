// The voucher file: written whole at mode 0600, read back with its key, refused when it is not
// one; `list` tells usable, spent and expired apart offline. (tests/vouchers_test.ts runs `take`
// against a real control plane.)
import assert from "node:assert/strict";
import { bytesToHex } from "@noble/hashes/utils.js";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { createVoucher } from "../../shared/mod.ts";
import { CliError } from "../cli_error.ts";
import {
  describeVouchers,
  readVoucherWallet,
  runVouchers,
  type VoucherWallet,
  writeVoucherWallet,
} from "./vouchers.ts";

const platform = generateSecretKey();
const consumer = generateSecretKey();
const NOW = 1_780_000_000;

function voucher(n: number, expiresAt: number) {
  return createVoucher(platform, {
    voucher_id: `vch_${n.toString(16).padStart(32, "0")}`,
    buyer_did: "did:infernet:buyer:x",
    consumer: getPublicKey(consumer),
    max_nano: "50000000",
    currency: "USD",
    expires_at: expiresAt,
    created_at: NOW,
  });
}

Deno.test("vouchers file - written 0600, read back, statuses told apart", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/sub/vouchers.json`;
    const wallet: VoucherWallet = {
      server: "http://127.0.0.1:8787",
      platform_pubkey: getPublicKey(platform),
      consumer_secret: bytesToHex(consumer),
      consumer_pubkey: getPublicKey(consumer),
      vouchers: [voucher(1, NOW + 100), voucher(2, NOW + 100), voucher(3, NOW)],
      spent: [`vch_${"2".padStart(32, "0")}`],
    };
    await writeVoucherWallet(path, wallet);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const back = await readVoucherWallet(path);
    assert.deepEqual(back, JSON.parse(JSON.stringify(wallet)));
    const rows = describeVouchers(back!, NOW + 1);
    assert.deepEqual(rows.map((r) => r.status), ["usable", "spent", "expired"]);
    assert.equal(rows[0].max_usd, "0.05");
    // A voucher of another control plane is not usable here.
    const foreign = { ...back!, platform_pubkey: getPublicKey(generateSecretKey()) };
    assert.equal(describeVouchers(foreign, NOW)[0].status, "invalid");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vouchers file - none is null; a file that is not one is a one-line error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(await readVoucherWallet(`${dir}/none.json`), null);
    for (
      const text of [
        "not json",
        "{}",
        '{"server":"x","platform_pubkey":"ab","consumer_secret":"cd","vouchers":[]}',
      ]
    ) {
      await Deno.writeTextFile(`${dir}/bad.json`, text);
      await assert.rejects(
        readVoucherWallet(`${dir}/bad.json`),
        (e) => e instanceof CliError && e.code === "config",
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vouchers command - usage errors name what is missing", async () => {
  const ctx = { args: [] as string[], env: { INFERNET_HOME: "/nonexistent" }, print: () => {} };
  // deno-lint-ignore no-explicit-any
  const run = (args: string[]) => runVouchers({ ...ctx, args } as any);
  await assert.rejects(run([]), (e) => e instanceof CliError && e.code === "usage");
  await assert.rejects(run(["take", "--count", "2"]), (e) => e instanceof CliError && e.code === "usage");
  await assert.rejects(
    run(["take", "--server", "http://127.0.0.1:1", "--key", "k", "--count", "x", "--max-usd", "1"]),
    (e) => e instanceof CliError && e.code === "usage",
  );
  await assert.rejects(run(["list"]), (e) => e instanceof CliError && e.code === "config");
});
