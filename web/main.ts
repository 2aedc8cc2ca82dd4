// The control plane's production entry point: config → storage → HTTP server. The only place that
// calls Deno.serve. It carries no test double: with no CoinPayPortal configured, deposits and
// payouts answer with a clear error. `deno task start` (dev/main.ts) adds the fakes for a laptop.
import { ConfigError, parseWebConfig, type WebConfig } from "./config.ts";
import { type ControlPlane, openControlPlane, type OpenControlPlaneOptions } from "./control_plane.ts";
import { createApp } from "./app.ts";
import { PING_INTERVAL_MS } from "./api/nodes/socket.ts";
import { CoinPayPortal } from "./payments/coinpayportal.ts";
import { createCanaryScheduler } from "./verification/canary_wiring.ts";
import type { CanaryScheduler } from "./verification/canary_scheduler.ts";
import { sleep } from "../shared/mod.ts";

/** A running control plane server. */
export interface RunningServer {
  url: string;
  port: number;
  /** Its canary scheduler, when canaries were asked for (among several instances it runs on one). */
  canaries: CanaryScheduler | null;
  shutdown(): Promise<void>;
}

/**
 * Serves the control plane (port 0 picks a free port) and keeps node sockets alive; with
 * `canaries`, sends nodes canary jobs through this very app at the configured rate: among several
 * instances, only on the one holding the cluster's `canaries` lease (every router sees every
 * node, so each instance running its own would send each node N times the canaries).
 */
export async function serveControlPlane(
  cp: ControlPlane,
  opts: { hostname: string; port: number; canaries?: boolean },
): Promise<RunningServer> {
  const app = createApp(cp);
  const canaries = opts.canaries ? createCanaryScheduler(cp, (req) => app.fetch(req)) : null;
  const lease = canaries && cp.cluster
    ? await cp.cluster.lease("canaries", (held) => held ? canaries.start() : void canaries.stop())
    : null;
  if (!lease) canaries?.start();
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
          canaries,
          async shutdown() {
            clearInterval(keepalive);
            await lease?.close();
            await canaries?.stop();
            for (const node of cp.registry.all()) node.connection?.close("server shutting down");
            await server.shutdown();
          },
        }),
    }, app.fetch);
  });
}

/** Parses the config from the environment and arguments; a bad one is printed as one line. */
export function loadWebConfig(program: string): WebConfig | null {
  try {
    return parseWebConfig(Deno.env.toObject(), Deno.args);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`${program}: ${err.message}`);
    return null;
  }
}

/** Opens the control plane and serves it; `close` stops both. */
export async function startControlPlane(
  config: WebConfig,
  opts: OpenControlPlaneOptions = {},
): Promise<{ cp: ControlPlane; server: RunningServer; close(): Promise<void> }> {
  const processor = opts.processor ?? (config.coinPayPortal
    ? new CoinPayPortal({
      baseUrl: config.coinPayPortal.url,
      apiKey: config.coinPayPortal.apiKey,
      businessId: config.coinPayPortal.businessId,
    })
    : undefined);
  const cp = await openControlPlane(config, { ...opts, processor });
  const server = await serveControlPlane(cp, {
    hostname: config.hostname,
    port: config.port,
    canaries: config.canaryRate > 0,
  });
  return {
    cp,
    server,
    async close() {
      await server.shutdown();
      await cp.close();
    },
  };
}

/** How often draining looks whether the jobs in flight have finished. */
const DRAIN_POLL_MS = 100;

/**
 * The jobs a stop would cut: those whose consumer is connected here, and those other instances
 * sent to the nodes connected here (their sockets close with this process).
 */
export function jobsInFlight(cp: ControlPlane): number {
  return cp.runDeps.active.size + (cp.cluster?.relay.size ?? 0);
}

/**
 * Drains before a stop: `/readyz` says 503 and new jobs are refused at once; after `delayMs` (the
 * load balancer has seen it) the jobs in flight are waited for, at most `timeoutMs`: this
 * instance's own and those other instances run on its nodes. Resolves with how many were still
 * running when it gave up (0 when all finished).
 */
export async function drainControlPlane(
  cp: ControlPlane,
  opts: { delayMs: number; timeoutMs: number },
): Promise<number> {
  cp.health.drain();
  cp.log.info("draining", { inFlight: cp.runDeps.active.size, relayed: cp.cluster?.relay.size ?? 0 });
  if (opts.delayMs > 0) await sleep(opts.delayMs);
  const deadline = Date.now() + opts.timeoutMs;
  while (jobsInFlight(cp) > 0 && Date.now() < deadline) await sleep(DRAIN_POLL_MS);
  return jobsInFlight(cp);
}

/** Resolves on SIGINT or SIGTERM. */
export function untilStopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGINT", resolve);
    Deno.addSignalListener("SIGTERM", resolve);
  });
}

async function run(): Promise<number> {
  const config = loadWebConfig("infernet-web");
  if (!config) return 2;
  let started: Awaited<ReturnType<typeof startControlPlane>>;
  try {
    started = await startControlPlane(config);
  } catch (err) {
    // One line a self-hoster can act on (an unreachable DATABASE_URL, a port in use), no stack.
    console.error(`infernet-web: could not start: ${(err as Error).message ?? err}`);
    return 1;
  }
  const { cp, server, close } = started;
  const url = config.publicUrl ?? server.url;
  console.log(
    [
      `Infernet control plane: ${url}  (${cp.db.description}; shared state: ${cp.state.kind})`,
      `Listening on ${server.url}`,
      `OpenAI base URL: ${url}/v1`,
      config.coinPayPortal
        ? `Payments: CoinPayPortal at ${config.coinPayPortal.url}`
        : "Payments: none configured (set COINPAYPORTAL_*); deposits and payouts are refused.",
    ].join("\n"),
  );
  await untilStopSignal();
  console.log("draining: not ready, no new jobs; finishing the jobs in flight…");
  const left = await drainControlPlane(cp, {
    delayMs: config.drainDelayMs,
    timeoutMs: config.drainTimeoutMs,
  });
  if (left) console.log(`${left} jobs still running after ${config.drainTimeoutMs} ms; stopping anyway`);
  console.log("shutting down…");
  await close();
  return 0;
}

if (import.meta.main) Deno.exit(await run());
