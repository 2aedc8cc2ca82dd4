// `infernet start`: the node daemon in the foreground. SIGINT/SIGTERM drain it: no new jobs,
// running jobs finish (up to 30 s), then it exits.
import { npubEncode } from "nostr-tools/nip19";
import { loadIdentity } from "../identity/node_key.ts";
import { detectHardware } from "../hardware/detect.ts";
import { parseRelayFlag, resolveServers, writeNodeConfig } from "../config.ts";
import { RelayOffers } from "../daemon/relay_offers.ts";
import { RelayJobs } from "../daemon/relay_jobs.ts";
import { VoucherRedeemer } from "../daemon/voucher_redeemer.ts";
import { buildAdvert } from "../node_advert.ts";
import { NodeDaemon } from "../daemon/node_daemon.ts";
import { directEndpoint, isLoopbackUrl } from "../daemon/direct_endpoint.ts";
import { type DirectServer, serveDirect } from "../daemon/direct_server.ts";
import { countPromptTokens } from "../daemon/prompt_tokens.ts";
import { detectAdvertisedAddress } from "../network/advertised_address.ts";
import { loadModelSecret } from "../models/model_keys.ts";
import { type CommandContext, loadNodeConfig, requireEngine } from "./context.ts";
import { parseFlags, positiveInt } from "./flags.ts";
import { AutoUpgrader, RESTART_EXIT_CODE, runningEnvironment } from "../upgrade/auto_upgrade.ts";
import { resolveUpgradeSettings } from "../upgrade/upgrade_config.ts";
import { CliError } from "../cli_error.ts";
import { CLI_VERSION } from "../version.ts";
import { type RunningBuiltin, startBuiltinEngine } from "../engines/builtin/start_builtin.ts";

/** Runs `infernet start`; resolves when the daemon has stopped. */
export async function runStart(ctx: CommandContext): Promise<void> {
  const f = parseFlags("start", ctx.args, {
    // Repeatable, or comma-separated: several control-plane instances to re-home between.
    server: { type: "string", multiple: true },
    "engine-url": { type: "string" },
    "max-concurrency": { type: "string" },
    "heartbeat-ms": { type: "string" },
    "no-auto-upgrade": { type: "boolean" },
    model: { type: "string" },
    "direct-port": { type: "string" },
    "direct-url": { type: "string" },
    relay: { type: "string", multiple: true },
  });
  const { home, config } = await loadNodeConfig(ctx);
  const identity = await loadIdentity(home);
  const servers = resolveServers(f.server, config, ctx.env);
  const server = servers[0];
  const maxConcurrency = positiveInt("max-concurrency", f["max-concurrency"]) ?? config.maxConcurrency;
  const cfg = { ...config, maxConcurrency };
  // No engine URL given and none found: the built-in engine serves the configured model, if any.
  const model = f.model ?? config.builtinModel ?? null;
  let builtin: RunningBuiltin | null = null;
  const findEngine = async () => {
    try {
      return await requireEngine(f["engine-url"], cfg);
    } catch (err) {
      const explicit = f["engine-url"] ?? cfg.engineUrl;
      if (!model || explicit || !(err instanceof CliError) || err.code !== "no_engine") throw err;
      builtin = await startBuiltinEngine(model, home);
      return builtin.engine;
    }
  };
  const [engine, hw] = await Promise.all([findEngine(), detectHardware()]);
  // Direct mode (§14): consumers call POST /direct here; the record's endpoint tells them where.
  const directPort = f["direct-port"] === undefined
    ? null
    : positiveInt("direct-port", f["direct-port"]) ?? null;
  if (directPort === null && f["direct-url"] !== undefined) {
    throw new CliError("usage", "--direct-url needs --direct-port (the port the daemon listens on)");
  }
  const endpoint = directPort === null ? null : directEndpoint({
    port: directPort,
    url: f["direct-url"],
    address: detectAdvertisedAddress(ctx.env),
    localServer: isLoopbackUrl(server),
  });
  let advert = { ...buildAdvert(identity, hw, engine, cfg), endpoint };
  // Nostr relays (docs/protocol.md §16): `--relay` (repeatable) replaces config.json's `relays`.
  const relays = f.relay?.length ? [...new Set(f.relay.map(parseRelayFlag))] : config.relays ?? [];
  const daemon = new NodeDaemon({
    server,
    servers,
    identity,
    advert,
    engineBaseUrl: engine.baseUrl,
    log: ctx.log,
    heartbeatIntervalMs: positiveInt("heartbeat-ms", f["heartbeat-ms"]),
    modelSecret: (pubkey) => loadModelSecret(home, pubkey),
  });
  // Jobs over the same relays (docs/protocol.md §18), paid by vouchers, checked offline.
  const relayJobs = relays.length === 0 ? null : new RelayJobs({
    relays,
    identity,
    host: { advert: () => daemon.advert(), run: (job, sealer, emit) => daemon.runSealed(job, sealer, emit) },
    platformKeys: daemon.platformKeys,
    home,
    log: ctx.log,
  });
  const heartbeatMs = positiveInt("heartbeat-ms", f["heartbeat-ms"]);
  let draining = false;
  const relayOffers = relays.length === 0 ? null : new RelayOffers({
    relays,
    identity,
    // While draining for an upgrade, no models: the refresh in drain() deletes the offers.
    advert: () => draining ? { ...advert, models: [] } : advert,
    freeSlots: () => advert.maxConcurrency - daemon.state.inFlight,
    server,
    log: ctx.log,
    refreshMs: heartbeatMs ?? 30_000,
  });
  // SIGINT/SIGTERM drain from here on, start-up included: a signal that comes while the node
  // registers or publishes its offers still ends in a clean stop (offers deleted, exit 0).
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    ctx.print("draining: finishing running jobs, taking no new ones…");
    // Offers go first, so no consumer picks a node that is on its way out.
    void relayOffers?.stop();
    void daemon.stop();
  };
  // SIGHUP: re-read the prices in config.json (`infernet price set`) and re-register with them.
  const reloadPrices = async () => {
    try {
      const { config: fresh } = await loadNodeConfig(ctx);
      advert = { ...buildAdvert(identity, hw, engine, { ...cfg, prices: fresh.prices }), endpoint };
      await daemon.readvertise(advert);
      await relayOffers?.refresh();
      ctx.print("prices reloaded from config.json and re-registered");
    } catch (err) {
      ctx.log.warn("prices not reloaded", { err: (err as Error).message });
    }
  };
  const hup = () => void reloadPrices();
  const canHup = Deno.build.os !== "windows";
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  if (canHup) Deno.addSignalListener("SIGHUP", hup);
  let direct: DirectServer | null = null;
  let redeemTimer: ReturnType<typeof setInterval> | null = null;
  let upgrader: AutoUpgrader | null = null;
  let restartAs: string | null = null;
  try {
    if (directPort !== null) {
      try {
        // POST /direct (tickets), and POST /job: a relay job straight to the node (§18).
        direct = serveDirect({
          openDirect: (header, next) => daemon.openDirect(header, next),
          answerJob: relayJobs ? (event) => relayJobs.answerHttp(event) : undefined,
        }, { port: directPort });
      } catch (err) {
        throw new CliError("usage", `--direct-port ${directPort}: ${(err as Error).message}`, { cause: err });
      }
    }
    try {
      if (!stopping) await daemon.start();
    } catch (err) {
      await (direct as DirectServer | null)?.close();
      throw err;
    }
    if (direct && !stopping) {
      ctx.print(`direct mode: POST /direct on port ${direct.port}, advertised as ${endpoint}`);
      // The prompt counter's vocabulary loads on first use (~0.1 s of CPU): now, not in the first request.
      void countPromptTokens([]).catch(() => {});
    }
    if (!stopping) await relayJobs?.start();
    // Vouchers taken for relay jobs are redeemed whenever the control plane answers (one pass at a time).
    const redeemer = new VoucherRedeemer({ home, secretKey: identity.secretKey, server, log: ctx.log });
    let redeeming = false;
    redeemTimer = relayJobs === null || stopping ? null : setInterval(() => {
      if (redeeming) return;
      redeeming = true;
      redeemer.redeemPending().catch((err) =>
        ctx.log.warn("vouchers not redeemed", { err: (err as Error).message })
      )
        .finally(() => redeeming = false);
    }, heartbeatMs ?? 30_000);
    if (relayOffers && !stopping) {
      const results = await relayOffers.start();
      const took = new Set(results.filter((r) => r.ok).map((r) => r.url));
      ctx.print(`relays: offers published to ${took.size} of ${relays.length} (${relays.join(", ")})`);
    }
    // The servers and the engine URL given are remembered for the next start and the other commands.
    const remembered = config.servers ?? (config.server ? [config.server] : []);
    const newServers = f.server !== undefined && servers.join(",") !== remembered.join(",");
    const engineUrl = f["engine-url"] ? f["engine-url"].replace(/\/+$/, "") : config.engineUrl;
    if (newServers || engineUrl !== config.engineUrl) {
      await writeNodeConfig(home, {
        ...config,
        ...(newServers ? { server, servers: servers.length > 1 ? servers : undefined } : {}),
        engineUrl,
      });
    }
    const test = engine.kind === "test"
      ? " — TEST ENGINE (deterministic echo, not a real model)"
      : engine.kind === "builtin"
      ? " — built-in engine (llama.cpp on the CPU)"
      : "";
    if (!stopping) {
      ctx.print(
        `node ${npubEncode(identity.pubkey)} online at ${daemon.server}${
          servers.length > 1 ? ` (re-homes to ${servers.filter((s) => s !== daemon.server).join(", ")})` : ""
        }`,
      );
      ctx.print(
        `engine: ${engine.kind} at ${engine.baseUrl}${test}; models: ${
          advert.models.map((m) => m.id).join(", ")
        }`,
      );
    }
    // Auto-upgrade needs the launcher (cli/infernet.sh), which starts the new version after a switch.
    const upgrade = resolveUpgradeSettings(config.upgrade, ctx.env, { noAutoUpgrade: f["no-auto-upgrade"] });
    if (upgrade.auto && ctx.env.INFERNET_LAUNCHER === "1" && !stopping) {
      upgrader = new AutoUpgrader(upgrade, runningEnvironment(home, CLI_VERSION), {
        node: {
          drain: async (timeoutMs) => {
            draining = true;
            await relayOffers?.refresh();
            return await daemon.drain(timeoutMs);
          },
          resume: async () => {
            draining = false;
            await daemon.resume();
            await relayOffers?.refresh();
          },
        },
        log: ctx.log,
        onSwitched: (o) => {
          if (o.status !== "switched") return;
          restartAs = o.to;
          ctx.print(`upgraded ${o.from} → ${o.to}; restarting with it`);
          void daemon.stop();
        },
      });
      upgrader.start();
      ctx.log.info("auto-upgrade on", { registry: upgrade.registry, package: upgrade.packageName });
    } else if (upgrade.auto && !stopping) {
      ctx.log.info("auto-upgrade off: not started by the infernet launcher (cli/infernet.sh)");
    }
    await daemon.stopped;
    if (redeemTimer !== null) clearInterval(redeemTimer);
    await relayJobs?.stop();
    await relayOffers?.stop();
    await (direct as DirectServer | null)?.close();
    (upgrader as AutoUpgrader | null)?.stop();
    await (builtin as RunningBuiltin | null)?.close();
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    if (canHup) Deno.removeSignalListener("SIGHUP", hup);
  }
  if (restartAs) {
    throw new CliError("restart_for_upgrade", `node stopped to restart as version ${restartAs}`, {
      exitCode: RESTART_EXIT_CODE,
    });
  }
  ctx.print("node stopped");
}
