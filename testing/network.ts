// A whole network for end-to-end tests and the benchmark: a control plane on a free port, test
// engines, and one real `infernet start` daemon process per engine, run through `deno task
// infernet` with the CLI's own permissions, exactly as an operator runs it.
import { startTestEngine, type TestEngine, type TestEngineOptions } from "./test_engine.ts";
import { cliCommand, runCli } from "./run_cli.ts";
import type { WebConfig } from "../web/config.ts";
import type { Database } from "../db/mod.ts";
import { openTestControlPlane, type TestControlPlane } from "./control_plane.ts";
import { watchOutput } from "./child_output.ts";
import { sleep } from "../shared/mod.ts";

export { runCli };

/** A running node daemon process. */
export interface NodeProcess {
  pubkey: string;
  home: string;
  child: Deno.ChildProcess;
  /** What the daemon printed to stderr (for failure messages). */
  stderr(): string;
}

/** A running test network. */
export interface TestNetwork extends TestControlPlane {
  url: string;
  engines: TestEngine[];
  nodes: NodeProcess[];
}

/** Starts a daemon for an engine and waits until the control plane sees it connected. */
export async function startNode(
  net: { cp: TestControlPlane["cp"]; url: string },
  engineUrl: string,
  opts: { maxConcurrency?: number; heartbeatMs?: number; args?: string[] } = {},
): Promise<NodeProcess> {
  const home = await Deno.makeTempDir({ prefix: "infernet-node-" });
  const env = { INFERNET_HOME: home, INFERNET_LOG_LEVEL: Deno.env.get("INFERNET_TEST_LOG_LEVEL") ?? "warn" };
  const init = await runCli(["init", "--json"], env);
  if (init.code !== 0) throw new Error(`infernet init failed: ${init.stderr}`);
  const { pubkey } = JSON.parse(init.stdout);
  const child = cliCommand([
    "start",
    "--server",
    net.url,
    "--engine-url",
    engineUrl,
    "--max-concurrency",
    String(opts.maxConcurrency ?? 16),
    ...(opts.heartbeatMs ? ["--heartbeat-ms", String(opts.heartbeatMs)] : []),
    ...opts.args ?? [],
  ], env).spawn();
  watchOutput(child.stdout, { keepChars: 20_000 });
  const stderr = watchOutput(child.stderr, { keepChars: 20_000 }).text;
  const deadline = Date.now() + 30_000;
  while (!net.cp.registry.get(pubkey)?.connection?.open) {
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await child.status;
      throw new Error(`node did not connect within 30 s:\n${stderr()}`);
    }
    await sleep(50);
  }
  return { pubkey, home, child, stderr };
}

/** Stops a daemon (SIGTERM: it drains) and removes its home. */
export async function stopNode(node: NodeProcess): Promise<void> {
  try {
    node.child.kill("SIGTERM");
  } catch {
    // Already exited.
  }
  const timer = setTimeout(() => {
    try {
      node.child.kill("SIGKILL");
    } catch {
      // Exited meanwhile.
    }
  }, 10_000);
  await node.child.status;
  clearTimeout(timer);
  await Deno.remove(node.home, { recursive: true }).catch(() => {});
}

/** Starts a control plane and, for each engine option set, a test engine with its own daemon. */
export async function startNetwork(
  opts: {
    engines?: TestEngineOptions[];
    config?: Partial<WebConfig>;
    maxConcurrency?: number;
    db?: Database;
    fundNanoUsd?: bigint;
  } = {},
): Promise<TestNetwork> {
  const t = await openTestControlPlane({
    serve: true,
    config: opts.config,
    db: opts.db,
    fundNanoUsd: opts.fundNanoUsd,
  });
  const url = t.server!.url;
  const engines: TestEngine[] = [];
  const nodes: NodeProcess[] = [];
  const close = async () => {
    await Promise.all(nodes.map(stopNode));
    await Promise.all(engines.map((e) => e.close()));
    await t.close();
  };
  try {
    for (const engineOpts of opts.engines ?? [{}]) {
      const engine = await startTestEngine(engineOpts);
      engines.push(engine);
      nodes.push(await startNode({ cp: t.cp, url }, engine.url, { maxConcurrency: opts.maxConcurrency }));
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { ...t, url, engines, nodes, close };
}
