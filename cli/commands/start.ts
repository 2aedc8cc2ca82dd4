// `infernet start`: the node daemon in the foreground. SIGINT/SIGTERM drain it: no new jobs,
// running jobs finish (up to 30 s), then it exits.
import { npubEncode } from "nostr-tools/nip19";
import { loadIdentity } from "../identity/node_key.ts";
import { detectHardware } from "../hardware/detect.ts";
import { writeNodeConfig } from "../config.ts";
import { buildAdvert } from "../node_advert.ts";
import { NodeDaemon } from "../daemon/node_daemon.ts";
import { type CommandContext, loadNodeConfig, requireEngine, resolveServer } from "./context.ts";
import { parseFlags, positiveInt } from "./flags.ts";

/** Runs `infernet start`; resolves when the daemon has stopped. */
export async function runStart(ctx: CommandContext): Promise<void> {
  const f = parseFlags("start", ctx.args, {
    server: { type: "string" },
    "engine-url": { type: "string" },
    "max-concurrency": { type: "string" },
    "heartbeat-ms": { type: "string" },
  });
  const { home, config } = await loadNodeConfig(ctx);
  const identity = await loadIdentity(home);
  const server = resolveServer(f.server, config, ctx.env);
  const maxConcurrency = positiveInt("max-concurrency", f["max-concurrency"]) ?? config.maxConcurrency;
  const cfg = { ...config, maxConcurrency };
  const [engine, hw] = await Promise.all([requireEngine(f["engine-url"], cfg), detectHardware()]);
  const advert = buildAdvert(identity, hw, engine, cfg);
  const daemon = new NodeDaemon({
    server,
    identity,
    advert,
    engineBaseUrl: engine.baseUrl,
    log: ctx.log,
    heartbeatIntervalMs: positiveInt("heartbeat-ms", f["heartbeat-ms"]),
  });
  await daemon.start();
  if (f.server && f.server !== config.server) await writeNodeConfig(home, { ...config, server });
  const test = engine.kind === "test" ? " — TEST ENGINE (deterministic echo, not a real model)" : "";
  ctx.print(`node ${npubEncode(identity.pubkey)} online at ${server}`);
  ctx.print(
    `engine: ${engine.kind} at ${engine.baseUrl}${test}; models: ${
      advert.models.map((m) => m.id).join(", ")
    }`,
  );
  const stop = () => {
    ctx.print("draining: finishing running jobs, taking no new ones…");
    void daemon.stop();
  };
  // SIGHUP: re-read the prices in config.json (`infernet price set`) and re-register with them.
  const reloadPrices = async () => {
    try {
      const { config: fresh } = await loadNodeConfig(ctx);
      await daemon.readvertise(buildAdvert(identity, hw, engine, { ...cfg, prices: fresh.prices }));
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
  await daemon.stopped;
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  if (canHup) Deno.removeSignalListener("SIGHUP", hup);
  ctx.print("node stopped");
}
