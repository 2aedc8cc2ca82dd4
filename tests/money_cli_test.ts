// The operator's money commands end to end: the real CLI against a served control plane whose
// payment processor is the CoinPayPortal adapter talking to the fake CoinPayPortal.
import assert from "node:assert/strict";
import { accountBalance, operatorEarnings } from "../db/mod.ts";
import { fundOperatorEarnings } from "../testing/funding.ts";
import { startFakeCoinPayPortal } from "../testing/fake_coinpayportal.ts";
import { runCli } from "../testing/run_cli.ts";
import { CoinPayPortal } from "../web/payments/coinpayportal.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";

const CENT = 10_000_000n;
const BTC = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";

function oneLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got: ${stderr}`);
  return lines[0];
}

Deno.test("cli money - set an address, request a payout, see earnings and payments; refusals are one line", async () => {
  const fake = await startFakeCoinPayPortal({ apiKey: "cpp_key", businessId: "biz_1", webhookSecret: "s" });
  const processor = new CoinPayPortal({ baseUrl: fake.url, apiKey: "cpp_key", businessId: "biz_1" });
  const t = await openTestControlPlane({ serve: true, processor, config: { minPayoutCents: 1000 } });
  const home = await Deno.makeTempDir({ prefix: "infernet-money-" });
  try {
    const env = { INFERNET_HOME: home, INFERNET_SERVER: t.server!.url };
    const init = await runCli(["init", "--json"], env);
    assert.equal(init.code, 0, init.stderr);
    const pubkey: string = JSON.parse(init.stdout).pubkey;
    const sql = t.cp.db.sql;

    // A bad address is refused before anything is sent; nothing is stored.
    const bad = await runCli(["payout", "set", "--coin", "BTC", "--address", BTC.slice(0, -1) + "5"], env);
    assert.equal(bad.code, 2);
    assert.match(oneLine(bad.stderr), /^infernet: not a valid BTC address: .*checksum/);
    const none = await runCli(["payout", "list"], env);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /no payout address set; set one with: infernet payout set/);

    // No address yet: the refusal says which command to run.
    await fundOperatorEarnings(sql, pubkey, 500n * CENT);
    const noAddress = await runCli(["payout", "request"], env);
    assert.equal(noAddress.code, 1);
    assert.match(
      oneLine(noAddress.stderr),
      /payout refused: no payout address is set; run `infernet payout set/,
    );

    const set = await runCli(["payout", "set", "--coin", "btc", "--address", BTC.toUpperCase()], env);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout.trim(), `payouts in BTC go to ${BTC}`);
    const list = await runCli(["payout", "list", "--json"], env);
    assert.deepEqual(JSON.parse(list.stdout).addresses.map((a: { address: string }) => a.address), [BTC]);

    // Below the minimum: says the minimum and the balance.
    const low = await runCli(["payout", "request"], env);
    assert.equal(low.code, 1);
    assert.match(oneLine(low.stderr), /earnings of \$5 are below the minimum payout of \$10/);

    // Paid: $25 of $25.000000012 (whole cents), once, at the processor.
    await fundOperatorEarnings(sql, pubkey, 2000n * CENT + 12n);
    const paid = await runCli(["payout", "request", "--json"], env);
    assert.equal(paid.code, 0, paid.stderr);
    const payout = JSON.parse(paid.stdout).payout;
    assert.equal(payout.status, "completed");
    assert.equal(payout.amount_usd, "25");
    assert.equal(payout.coin, "BTC");
    assert.equal(fake.payouts.length, 1);
    assert.equal(fake.payouts[0].amountUsd, 25);
    assert.equal(fake.payouts[0].idempotencyKey, `payout:${payout.id}`);
    assert.equal(payout.tx_hash, fake.payouts[0].txHash);

    // The processor refuses the next one: reversed, the money is back, the CLI says so.
    await fundOperatorEarnings(sql, pubkey, 1200n * CENT);
    fake.failNextPayouts(1, 400);
    const refused = await runCli(["payout", "request", "--coin", "BTC"], env);
    assert.equal(refused.code, 1);
    assert.match(oneLine(refused.stderr), /payout #\d+ failed: .*400.*; \$12 is back in your earnings/);
    assert.equal(await accountBalance(sql, operatorEarnings(pubkey)), 1200n * CENT + 12n);
    assert.equal(fake.payouts.length, 1);

    const earnings = await runCli(["earnings", "--json"], env);
    assert.equal(earnings.code, 0, earnings.stderr);
    const e = JSON.parse(earnings.stdout);
    assert.equal(e.pending_usd, "12.000000012");
    assert.equal(e.in_flight_usd, "0");
    assert.equal(e.paid_usd, "25");
    assert.equal(e.days.length, 1);
    assert.equal(e.days[0].jobs, 3);
    assert.equal(e.days[0].earned_usd, "37.000000012");
    assert.deepEqual(e.coins.map((c: { coin: string; paid_usd: string }) => [c.coin, c.paid_usd]), [[
      "BTC",
      "25",
    ]]);
    const earningsText = await runCli(["earnings"], env);
    assert.equal(earningsText.code, 0, earningsText.stderr);
    assert.match(earningsText.stdout, /pending: +\$12\.000000012 \(minimum payout \$10/);
    assert.match(earningsText.stdout, /paid: +\$25\n/);
    assert.match(earningsText.stdout, /\d{4}-\d\d-\d\d +\$37\.000000012 +3/);

    const history = await runCli(["payments", "list"], env);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /WHEN \(UTC\) +ID +COIN +USD +CRYPTO +STATUS/);
    assert.ok(history.stdout.includes(payout.tx_hash), "the tx hash is shown");
    assert.match(history.stdout, /BTC +\$12 .* failed /);
    const historyJson = JSON.parse((await runCli(["payments", "list", "--json"], env)).stdout);
    assert.deepEqual(historyJson.payouts.map((p: { status: string }) => p.status), ["failed", "completed"]);

    const usage = await runCli(["payments"], env);
    assert.equal(usage.code, 2);
    oneLine(usage.stderr);
  } finally {
    await Deno.remove(home, { recursive: true });
    await t.close();
    await fake.close();
  }
});
