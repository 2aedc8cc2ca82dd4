// Issue 29's test that matters: a relay, a control plane, a node (`infernet start --relay`) and
// `infernet proxy --relay --vouchers`; the consumer takes vouchers; the control plane stops; the
// official OpenAI SDK through the proxy still gets completions (streamed and not) from the node over
// the relay; the control plane comes back (same database, key and port); the node redeems; the
// consumer's balance and the operator's earnings are exact and the ledger reconciles.
import assert from "node:assert/strict";
import OpenAI from "openai";
import {
  accountBalance,
  consumerBalance,
  consumerVouchers,
  type Database,
  operatorEarnings,
  PLATFORM_FEES,
  reconcile,
} from "../db/mod.ts";
import { jobCost, NANO_USD_PER_USD, sleep, splitFee } from "../shared/mod.ts";
import { main } from "../cli/main.ts";
import { readVoucherWallet } from "../cli/commands/vouchers.ts";
import { testOnEachDatabase } from "../testing/databases.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";
import { createTestKey } from "../testing/funding.ts";
import { startTestRelay } from "../testing/relay_socket.ts";
import { startTestEngine } from "../testing/test_engine.ts";
import { startNode, stopNode } from "../testing/network.ts";
import { cliCommand, runCli } from "../testing/run_cli.ts";
import { watchOutput } from "../testing/child_output.ts";
import { serveControlPlane } from "../web/main.ts";

const USD = NANO_USD_PER_USD;
const FEE_BPS = 1000;
const MODEL = "infernet-test-echo";

/** A control plane on `db` with the platform key in `keyFile`, served on `port` (0: any). */
async function startControlPlane(db: Database, keyFile: string, port: number) {
  const tcp = await openTestControlPlane({ db, config: { platformKeyFile: keyFile, feeBps: FEE_BPS } });
  const server = await serveControlPlane(tcp.cp, { hostname: "127.0.0.1", port });
  let stopped = false;
  return {
    cp: tcp.cp,
    url: `http://127.0.0.1:${server.port}`,
    port: server.port,
    async stop() {
      if (stopped) return;
      stopped = true;
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

/** Polls `check` every 100 ms until it is true, for at most `ms`. */
async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out.sort();
}

testOnEachDatabase(
  "relay jobs e2e - the SDK gets answers over a relay with the control plane down; the node is paid after",
  async (db) => {
    const home = await Deno.makeTempDir({ prefix: "infernet-relay-e2e-" });
    const keyFile = `${home}/platform.key`;
    const relay = await startTestRelay();
    const engine = await startTestEngine();
    let cp = await startControlPlane(db, keyFile, 0);
    const cleanup: (() => Promise<unknown>)[] = [];
    try {
      const node = await startNode({ cp: cp.cp, url: cp.url }, engine.url, {
        heartbeatMs: 1000,
        args: ["--relay", relay.url],
      });
      cleanup.unshift(() => stopNode(node));
      const consumer = await createTestKey(db.sql, 10n * USD);
      const money = async () => ({
        balance: await accountBalance(db.sql, consumerBalance(consumer.id)),
        vouchers: await accountBalance(db.sql, consumerVouchers(consumer.id)),
        operator: await accountBalance(db.sql, operatorEarnings(node.pubkey)),
        fees: await accountBalance(db.sql, PLATFORM_FEES),
      });

      // The consumer takes three vouchers of 0.01 USD while the control plane is up.
      const wallet = `${home}/consumer/vouchers.json`;
      const env = { INFERNET_HOME: `${home}/consumer`, HOME: home };
      const take = ["vouchers", "take", "--server", cp.url, "--key", consumer.key, "--count", "3"];
      const taken = await cli([...take, "--max-usd", "0.01", "--out", wallet], env);
      assert.equal(taken.code, 0, taken.out.join("\n"));
      const max = USD / 100n;
      assert.deepEqual(await money(), {
        balance: 10n * USD - 3n * max,
        vouchers: 3n * max,
        operator: 0n,
        fees: 0n,
      });

      // The control plane goes away; the proxy starts with no control plane at all.
      const port = cp.port;
      await cp.stop();
      const proxy = cliCommand(["proxy", "--port", "0", "--relay", relay.url, "--vouchers", wallet], env)
        .spawn();
      const out = watchOutput(proxy.stdout);
      const err = watchOutput(proxy.stderr);
      cleanup.unshift(async () => {
        proxy.kill("SIGTERM");
        await proxy.status;
        await Promise.all([out.done, err.done]);
      });
      const [, proxyPort] = await out.waitFor(/http:\/\/127\.0\.0\.1:(\d+)\/v1/, 30_000);
      const sdk = new OpenAI({
        baseURL: `http://127.0.0.1:${proxyPort}/v1`,
        apiKey: "unused-with-vouchers",
        maxRetries: 0,
        timeout: 30_000,
      });
      const messages = [{ role: "user" as const, content: "relays keep serving" }];
      const models = await sdk.models.list();
      assert.deepEqual(models.data.map((m) => m.id), [MODEL]);
      const whole = await sdk.chat.completions.create({ model: MODEL, messages, max_tokens: 16 });
      const text = whole.choices[0].message.content ?? "";
      assert.ok(text.length > 0, "an answer");
      const stream = await sdk.chat.completions.create({
        model: MODEL,
        messages,
        max_tokens: 16,
        stream: true,
      });
      let streamed = "";
      let chunks = 0;
      for await (const chunk of stream) {
        chunks++;
        streamed += chunk.choices[0]?.delta?.content ?? "";
      }
      assert.ok(chunks > 1, "several chunks");
      assert.equal(streamed, text, "the echo answers the same streamed or not");
      const spent = (await readVoucherWallet(wallet))!.spent;
      assert.equal(spent.length, 2, "one voucher per job, recorded in the file");
      await until(async () => (await files(`${node.home}/vouchers/pending`)).length === 2, 10_000, "claims");

      // The control plane comes back: the node redeems both vouchers, once each.
      cp = await startControlPlane(db, keyFile, port);
      cleanup.unshift(() => cp.stop());
      await until(
        async () => (await files(`${node.home}/vouchers/redeemed`)).length === 2,
        60_000,
        "redemption",
      );
      assert.deepEqual(await files(`${node.home}/vouchers/pending`), []);
      let charged = 0n, operator = 0n, fees = 0n;
      for (const name of await files(`${node.home}/vouchers/redeemed`)) {
        const claim = JSON.parse(await Deno.readTextFile(`${node.home}/vouchers/redeemed/${name}`));
        const usage = JSON.parse(claim.receipt.content).usage;
        const cost = jobCost({
          promptTokens: usage.prompt_tokens,
          completionTokens: usage.completion_tokens,
          promptPer1k: claim.price.prompt_per_1k,
          completionPer1k: claim.price.completion_per_1k,
        });
        const charge = cost < max ? cost : max;
        assert.equal(BigInt(claim.outcome.charged_nano), charge);
        const split = splitFee(charge, FEE_BPS);
        charged += charge;
        operator += split.operatorShare;
        fees += split.platformFee;
      }
      assert.ok(charged > 0n);
      assert.deepEqual(await money(), {
        balance: 10n * USD - 3n * max + (2n * max - charged),
        vouchers: max,
        operator,
        fees,
      });
      assert.deepEqual(await reconcile(db.sql), []);
    } finally {
      for (const c of cleanup) await c().catch(() => {});
      await cp.stop();
      await engine.close();
      await relay.close();
      await Deno.remove(home, { recursive: true });
    }
  },
);

Deno.test("relay jobs e2e - proxy --relay: bad flags and a missing voucher file are one line, non-zero", async () => {
  const home = await Deno.makeTempDir({ prefix: "infernet-relay-cli-" });
  try {
    const env = { INFERNET_HOME: home };
    const cases: [string[], RegExp][] = [
      [["proxy", "--vouchers", `${home}/v.json`], /--vouchers goes with --relay/],
      [["proxy", "--relay", "http://127.0.0.1:9"], /--relay must be a ws:\/\/ or wss:\/\/ URL/],
      [["proxy", "--relay", "ws://127.0.0.1:9", "--vouchers", `${home}/none.json`], /infernet vouchers take/],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args, env);
      assert.notEqual(run.code, 0, args.join(" "));
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
    }
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
