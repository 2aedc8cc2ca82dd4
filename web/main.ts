// The control plane's entry point: config → storage → HTTP server (→ a local node, for
// `deno task start`). The only place that calls Deno.serve.
import { ConfigError, parseWebConfig } from "./config.ts";
import { type ControlPlane, openControlPlane } from "./control_plane.ts";
import { createApp } from "./app.ts";
import { PING_INTERVAL_MS } from "./api/nodes/socket.ts";
import { startLocalNetwork } from "./local_network.ts";
import { createApiKey } from "../db/mod.ts";
import { formatUsd } from "../shared/mod.ts";
import { type FakeCoinPayPortal, startFakeCoinPayPortal } from "../shared/testing/mod.ts";
import { CoinPayPortal } from "./payments/coinpayportal.ts";
import { startDeposit } from "./api/deposits.ts";

/** A running control plane server. */
export interface RunningServer {
  url: string;
  port: number;
  shutdown(): Promise<void>;
}

/** Serves the control plane (port 0 picks a free port) and keeps node sockets alive. */
export function serveControlPlane(
  cp: ControlPlane,
  opts: { hostname: string; port: number },
): Promise<RunningServer> {
  const app = createApp(cp);
  const keepalive = setInterval(() => {
    for (const node of cp.registry.all()) {
      const conn = node.connection;
      if (!conn) continue;
      if (Date.now() - conn.lastPongAt > 3 * PING_INTERVAL_MS) conn.close("no pong from node");
      else conn.ping();
    }
  }, PING_INTERVAL_MS);
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: opts.hostname,
      port: opts.port,
      onListen: (addr) =>
        resolve({
          url: `http://${addr.hostname}:${addr.port}`,
          port: addr.port,
          async shutdown() {
            clearInterval(keepalive);
            for (const node of cp.registry.all()) node.connection?.close("server shutting down");
            await server.shutdown();
          },
        }),
    }, app.fetch);
  });
}

async function run(): Promise<number> {
  let config;
  try {
    config = parseWebConfig(Deno.env.toObject(), Deno.args);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`infernet-web: ${err.message}`);
      return 2;
    }
    throw err;
  }
  // No CoinPayPortal configured: the repository's fake processor, so deposits work end to end
  // with test money (said plainly below). It confirms each payment a few seconds after creation.
  let fake: FakeCoinPayPortal | null = null;
  let processor: CoinPayPortal;
  let webhookSecret: string | null = null;
  if (config.coinPayPortal) {
    const { url, apiKey, businessId } = config.coinPayPortal;
    processor = new CoinPayPortal({ baseUrl: url, apiKey, businessId });
  } else {
    webhookSecret = crypto.randomUUID();
    fake = await startFakeCoinPayPortal({
      apiKey: "local-dev",
      businessId: "local-dev",
      webhookSecret,
      autoConfirmMs: 3000,
    });
    processor = new CoinPayPortal({ baseUrl: fake.url, apiKey: "local-dev", businessId: "local-dev" });
  }
  const cp = await openControlPlane(config, { processor, webhookSecret });
  const server = await serveControlPlane(cp, { hostname: config.hostname, port: config.port });
  const url = config.publicUrl ?? server.url;
  fake?.setWebhookUrl(`${server.url}/api/webhooks/coinpay`);
  const local = config.localNode
    ? await startLocalNetwork(cp, { serverUrl: server.url, dataDir: config.dataDir })
    : null;
  const { key, row } = await createApiKey(cp.db.sql, { label: "printed at start" });
  let credit = "";
  if (fake && config.devCreditCents > 0) {
    // Test money for the printed key, through the same deposit → webhook → ledger path as real money.
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
  await new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGINT", resolve);
    Deno.addSignalListener("SIGTERM", resolve);
  });
  console.log("shutting down…");
  await local?.stop();
  await server.shutdown();
  await cp.close();
  await fake?.close();
  return 0;
}

if (import.meta.main) Deno.exit(await run());
