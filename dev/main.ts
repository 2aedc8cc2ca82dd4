// `deno task start` (`npm start`): the whole network on one machine, for trying it and developing.
// The production server (web/main.ts) plus what a laptop lacks: a local node daemon, and with no
// CoinPayPortal account the repository's fake payment processor, which funds the printed key with
// test money through the same deposit → webhook → ledger path as real money.
import { drainControlPlane, loadWebConfig, startControlPlane, untilStopSignal } from "../web/main.ts";
import { startDeposit } from "../web/api/deposits.ts";
import { CoinPayPortal } from "../web/payments/coinpayportal.ts";
import { createApiKey } from "../db/mod.ts";
import { formatUsd } from "../shared/mod.ts";
import { type FakeCoinPayPortal, startFakeCoinPayPortal } from "../testing/fake_coinpayportal.ts";
import { startLocalNetwork } from "./local_network.ts";
import { type RunningRelay, startRelay } from "../shared/relay/relay_server.ts";

/** `deno task relay`'s port when free, else any: nodes publish their offers there. */
async function localRelay(): Promise<RunningRelay | null> {
  for (const port of [7447, 0]) {
    try {
      return await startRelay({ hostname: "127.0.0.1", port });
    } catch {
      // taken (another `npm start` or `deno task relay`): try a free port
    }
  }
  return null;
}

async function run(): Promise<number> {
  const config = loadWebConfig("infernet-dev");
  if (!config) return 2;
  // The fake confirms each payment a few seconds after creation.
  let fake: FakeCoinPayPortal | null = null;
  let webhookSecret: string | undefined;
  if (!config.coinPayPortal) {
    webhookSecret = crypto.randomUUID();
    fake = await startFakeCoinPayPortal({
      apiKey: "local-dev",
      businessId: "local-dev",
      webhookSecret,
      autoConfirmMs: 3000,
    });
  }
  const processor = fake
    ? new CoinPayPortal({ baseUrl: fake.url, apiKey: "local-dev", businessId: "local-dev" })
    : undefined;
  const { cp, server, close } = await startControlPlane(config, { processor, webhookSecret });
  const url = config.publicUrl ?? server.url;
  fake?.setWebhookUrl(`${server.url}/api/webhooks/coinpay`);
  const relay = config.localNode ? await localRelay() : null;
  const local = config.localNode
    ? await startLocalNetwork(cp, {
      serverUrl: server.url,
      dataDir: config.dataDir,
      relays: relay ? [relay.url] : [],
    })
    : null;
  const { key, row } = await createApiKey(cp.db.sql, { label: "printed at start" });
  let credit = "";
  if (fake && config.devCreditCents > 0) {
    const payment = await startDeposit(cp, {
      apiKeyId: row.id,
      cents: config.devCreditCents,
      coin: "USDC_SOL",
      idempotencyKey: "start",
    });
    await fake.confirm(payment.id);
    credit = `, credited ${formatUsd(payment.amount)} USD of test money`;
  }
  const model = local?.models[0] ?? "<model>";
  console.log(
    [
      "",
      `Infernet control plane: ${url}  (${cp.db.description}; KV ${
        config.kv ?? `${config.dataDir}/kv.sqlite3`
      })`,
      local ? `Local node: ${local.description}` : "No local node (--no-local-node).",
      ...(relay ? [`Nostr relay: ${relay.url}  (the local node publishes its offers there)`] : []),
      "",
      `OpenAI base URL: ${url}/v1`,
      fake
        ? "Payments: the repository's FAKE payment processor (test money; deposits confirm after 3 s)."
        : `Payments: CoinPayPortal at ${config.coinPayPortal!.url}`,
      `API key (new, shown once${credit}): ${key}`,
      "",
      `curl ${url}/v1/chat/completions -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" \\`,
      `  -d '{"model":"${model}","messages":[{"role":"user","content":"Hello!"}]}'`,
      "",
    ].join("\n"),
  );
  await untilStopSignal();
  // As `deno task serve` drains, without the wait for a load balancer (none is in front of this one).
  console.log("draining: no new jobs; finishing the jobs in flight… (Ctrl-C again stops at once)");
  const now = () => Deno.exit(130);
  Deno.addSignalListener("SIGINT", now);
  Deno.addSignalListener("SIGTERM", now);
  const left = await drainControlPlane(cp, { delayMs: 0, timeoutMs: config.drainTimeoutMs });
  if (left) console.log(`${left} jobs still running after ${config.drainTimeoutMs} ms; stopping anyway`);
  console.log("shutting down…");
  await local?.stop();
  await relay?.close();
  await close();
  await fake?.close();
  return 0;
}

if (import.meta.main) Deno.exit(await run());
