// Vouchers end to end, on both databases: `infernet vouchers take` against a real control plane,
// the control plane stopped, the node keeps the voucher it was paid with and fails to redeem it,
// the control plane started again (same database, same platform key, same port), the node's
// redeemer pays it once; balances exact, the ledger reconciled.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import {
  createNodeReceipt,
  createNodeRecord,
  NANO_USD_PER_USD,
  nowSeconds,
  verifyNodeRecord,
} from "../shared/mod.ts";
import {
  accountBalance,
  consumerBalance,
  consumerVouchers,
  type Database,
  operatorEarnings,
  PLATFORM_FEES,
  reconcile,
} from "../db/mod.ts";
import { testOnEachDatabase } from "../testing/databases.ts";
import { createTestKey, openTestControlPlane, type TestControlPlane } from "../testing/control_plane.ts";
import { sampleAdvert } from "../testing/node_advert.ts";
import { serveControlPlane } from "../web/main.ts";
import { main } from "../cli/main.ts";
import { runCli } from "../testing/run_cli.ts";
import { readVoucherWallet } from "../cli/commands/vouchers.ts";
import { VoucherRedeemer } from "../cli/daemon/voucher_redeemer.ts";

const USD = NANO_USD_PER_USD;
const PRICES = { promptPricePer1k: 1_000_000, completionPricePer1k: 2_000_000 };

/** A control plane on `db` with the platform key in `keyFile`, served on `port` (0: any). */
async function startControlPlane(db: Database, keyFile: string, port: number, node: Uint8Array) {
  const tcp: TestControlPlane = await openTestControlPlane({
    db,
    config: { platformKeyFile: keyFile, feeBps: 1000 },
  });
  const server = await serveControlPlane(tcp.cp, { hostname: "127.0.0.1", port });
  // The node registers again when it reconnects; here, directly.
  const record = verifyNodeRecord(
    createNodeRecord(node, sampleAdvert({ models: [{ id: "m", contextLength: 4096, ...PRICES }] })),
  );
  if (!record.ok) throw new Error(record.reason);
  await tcp.cp.registry.register(record.record);
  return {
    cp: tcp.cp,
    url: `http://127.0.0.1:${server.port}`,
    port: server.port,
    stopped: false,
    async stop() {
      if (this.stopped) return;
      this.stopped = true;
      await server.shutdown();
      await tcp.close();
    },
  };
}

/** Runs the CLI in-process, capturing what it prints. */
async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const log = console.log;
  console.log = (line: string) => out.push(String(line));
  try {
    return { code: await main(args, env), out };
  } finally {
    console.log = log;
  }
}

testOnEachDatabase(
  "vouchers e2e - taken by the CLI, redeemed by the node once the control plane is back",
  async (db) => {
    const home = await Deno.makeTempDir({ prefix: "infernet-vouchers-" });
    const keyFile = `${home}/platform.key`;
    const node = generateSecretKey();
    const env = { INFERNET_HOME: home, HOME: home };
    let cp = await startControlPlane(db, keyFile, 0, node);
    try {
      const consumer = await createTestKey(db.sql, 10n * USD);
      const money = async () => ({
        balance: await accountBalance(db.sql, consumerBalance(consumer.id)),
        vouchers: await accountBalance(db.sql, consumerVouchers(consumer.id)),
        operator: await accountBalance(db.sql, operatorEarnings(getPublicKey(node))),
        fees: await accountBalance(db.sql, PLATFORM_FEES),
      });

      // The consumer takes two vouchers of 0.5 USD, into a file outside the CLI's home, through the
      // launcher with its explicit permissions (which once allowed no file outside the home).
      const file = `${home}/consumer/vouchers.json`;
      const launcherEnv = { INFERNET_HOME: `${home}/cli-home`, HOME: home };
      const taken = await runCli(
        [
          "vouchers",
          "take",
          "--server",
          cp.url,
          "--key",
          consumer.key,
          "--count",
          "2",
          "--max-usd",
          "0.5",
          "--out",
          file,
        ],
        launcherEnv,
      );
      assert.equal(taken.code, 0, taken.stderr);
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
      const wallet = await readVoucherWallet(file);
      assert.ok(wallet);
      assert.equal(wallet.vouchers.length, 2);
      assert.equal(wallet.platform_pubkey, cp.cp.platformKey.pubkey);
      const listed = await runCli(["vouchers", "list", `--file=${file}`, "--json"], launcherEnv);
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(JSON.parse(listed.stdout).vouchers.map((v: { status: string }) => v.status), [
        "usable",
        "usable",
      ]);
      assert.deepEqual(await money(), { balance: 9n * USD, vouchers: 1n * USD, operator: 0n, fees: 0n });
      // Bad input: one line, non-zero exit, nothing held.
      const bad = await cli([
        "vouchers",
        "take",
        "--server",
        cp.url,
        "--key",
        consumer.key,
        "--count",
        "0",
        "--max-usd",
        "1",
      ], env);
      assert.notEqual(bad.code, 0);
      const broke = await cli(
        [
          "vouchers",
          "take",
          "--server",
          cp.url,
          "--key",
          consumer.key,
          "--count",
          "100",
          "--max-usd",
          "1",
          "--out",
          file,
        ],
        env,
      );
      assert.notEqual(broke.code, 0);
      assert.equal((await readVoucherWallet(file))!.vouchers.length, 2);

      // The control plane goes away; the node serves a job paid with the first voucher.
      const port = cp.port;
      await cp.stop();
      const voucher = wallet.vouchers[0];
      const voucherId = JSON.parse(voucher.content).voucher_id;
      const receipt = createNodeReceipt(node, {
        task_id: voucherId,
        category: "inference:chat",
        model: "m",
        outcome: "success",
        artifact_hash: null,
        usage: { prompt_tokens: 1000, completion_tokens: 500 },
        ttft_ms: 3,
        duration_ms: 30,
        seq: 1,
        prev: null,
        created_at: nowSeconds(),
      });
      const nodeHome = `${home}/node`;
      const redeemer = new VoucherRedeemer({
        home: nodeHome,
        secretKey: node,
        server: `http://127.0.0.1:${port}`,
      });
      const claim = { voucher, receipt, price: { prompt_per_1k: 1_000_000, completion_per_1k: 2_000_000 } };
      assert.equal(await redeemer.keep(claim), voucherId);
      assert.equal(await redeemer.keep(claim), voucherId, "kept once");
      assert.equal((await Deno.stat(`${nodeHome}/vouchers/pending/${voucherId}.json`)).mode! & 0o777, 0o600);
      const down = await redeemer.run({ maxPasses: 2, firstDelayMs: 10 });
      assert.deepEqual(down, { redeemed: [], refused: [], waiting: [voucherId] });

      // Back on the same port, same database and key: redeemed once, exact.
      cp = await startControlPlane(db, keyFile, port, node);
      const up = await redeemer.run({ maxPasses: 5, firstDelayMs: 20 });
      assert.deepEqual(up, { redeemed: [voucherId], refused: [], waiting: [] });
      assert.deepEqual(await redeemer.pending(), []);
      const paid = {
        balance: 9n * USD + USD / 2n - 2_000_000n,
        vouchers: USD / 2n,
        operator: 1_800_000n,
        fees: 200_000n,
      };
      assert.deepEqual(await money(), paid);
      // The same claim kept again (a restarted daemon) is answered as redeemed: nothing moves.
      await redeemer.keep(claim);
      const again = await redeemer.run({ maxPasses: 2, firstDelayMs: 10 });
      assert.deepEqual(again.redeemed, [voucherId]);
      assert.deepEqual(await money(), paid);
      assert.deepEqual(await reconcile(db.sql), []);
    } finally {
      await cp.stop();
      await Deno.remove(home, { recursive: true });
    }
  },
);
