// `infernet proxy`: a local OpenAI-compatible endpoint for private (direct-mode) requests, on
// 127.0.0.1 only: point the official SDKs at http://127.0.0.1:8788/v1 with your API key; prompts
// and answers travel sealed between this machine and the node (docs/protocol.md §14).
import { CliError } from "../cli_error.ts";
import { createProxyHandler } from "../proxy/handler.ts";
import { type CommandContext, loadNodeConfig, resolveServer } from "./context.ts";
import { parseRelayFlag, writeNodeConfig } from "../config.ts";
import { defaultWalletPath } from "./vouchers.ts";
import { RelayWallet } from "../proxy/relay_wallet.ts";
import { fastestSecp256k1, parseOperatorKey } from "../../shared/mod.ts";
import { RelayPool, RelayReputations } from "../../shared/relay/mod.ts";
import { parseFlags } from "./flags.ts";

/** The proxy's default port. */
export const PROXY_PORT = 8788;

function parsePort(value: string | undefined): number {
  if (value === undefined) return PROXY_PORT;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0 || n > 65535) {
    throw new CliError("usage", "proxy: --port must be a port number (0 picks a free one)");
  }
  return n;
}

function parseTarget(value: string | undefined): "node" | "model" {
  if (value === undefined || value === "node" || value === "model") return value ?? "node";
  throw new CliError("usage", `proxy: --target must be node or model, not ${value}`);
}

/** Runs `infernet proxy` until SIGINT or SIGTERM. */
export async function runProxy(ctx: CommandContext): Promise<void> {
  const flags = parseFlags("proxy", ctx.args, {
    port: { type: "string" },
    server: { type: "string" },
    "relay-only": { type: "boolean" },
    target: { type: "string" },
    relay: { type: "string", multiple: true },
    vouchers: { type: "string" },
    "platform-key": { type: "string" },
  });
  const port = parsePort(flags.port);
  const target = parseTarget(flags.target);
  const { home, config } = await loadNodeConfig(ctx);
  // Relay mode (docs/protocol.md §18): jobs over Nostr relays, paid by vouchers, no control plane.
  const relays = [...new Set((flags.relay ?? []).map(parseRelayFlag))];
  if (relays.length === 0 && flags.vouchers !== undefined) {
    throw new CliError("usage", "proxy: --vouchers goes with --relay URL (jobs over relays)");
  }
  if (relays.length === 0 && flags["platform-key"] !== undefined) {
    throw new CliError("usage", "proxy: --platform-key goes with --relay URL (jobs over relays)");
  }
  const trusted = flags["platform-key"] === undefined ? undefined : parseOperatorKey(flags["platform-key"]);
  if (trusted === null) throw new CliError("usage", "proxy: --platform-key must be an npub or hex key");
  const wallet = relays.length === 0
    ? null
    : await RelayWallet.open(flags.vouchers ?? defaultWalletPath(ctx.env));
  const pool = relays.length === 0
    ? null
    : new RelayPool(relays, { verifyEvent: (await fastestSecp256k1()).verifyEvent });
  // Nodes are ranked by the receipts of the control plane that issued the vouchers (§18).
  const platformKey = trusted ?? wallet?.platformPubkey;
  const reputations = pool && platformKey ? new RelayReputations({ pool, platformKey }) : undefined;
  const server = pool ? flags.server ?? "" : resolveServer(flags.server, config, ctx.env);
  const handler = createProxyHandler({
    server,
    relayOnly: flags["relay-only"] === true,
    target,
    log: ctx.log,
    relay: pool && wallet ? { pool, takeVoucher: () => wallet.take(), reputations } : undefined,
  });
  let http: Deno.HttpServer<Deno.NetAddr>;
  try {
    http = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, handler);
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) {
      throw new CliError("config", `proxy: port ${port} is in use; pass --port N`);
    }
    throw err;
  }
  // Remembered for the next `infernet proxy` when none was configured (a node's own is left alone).
  if (!pool && flags.server && config.server === null) await writeNodeConfig(home, { ...config, server });
  const mode = (flags["relay-only"] ? " (relay only)" : "") +
    (target === "model" ? " (sealed to model keys)" : "");
  ctx.print(
    pool && wallet
      ? `infernet proxy: http://127.0.0.1:${http.addr.port}/v1 → relays ${relays.join(", ")} ` +
        `(${wallet.usable} vouchers in ${wallet.path})`
      : `infernet proxy: http://127.0.0.1:${http.addr.port}/v1 → ${server}${mode}`,
  );
  const stop = () => http.shutdown();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    await http.finished;
  } finally {
    pool?.close();
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
}
