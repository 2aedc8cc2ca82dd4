// The node daemon's cold start (process spawned → registered and connected at the control plane)
// and idle memory (RSS of the daemon process after 10 s idle), on a test control plane and test
// engine, the daemon run as an operator runs it (`deno task infernet start`). Prints one JSON line.
//   deno run --allow-net --allow-read --allow-write --allow-env --allow-run --allow-sys cli/bench/daemon_bench.ts
import { cliCommand, runCli } from "../testing/run_cli.ts";
import { startTestEngine } from "../testing/test_engine.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";
import { readDaemonPid } from "../cli/daemon/pid_file.ts";
import { sleep } from "../shared/mod.ts";

const IDLE_MS = 10_000;
const RUNS = Number(Deno.env.get("DAEMON_BENCH_RUNS") ?? 3);

// `ps` rather than /proc: Deno reads /proc only with --allow-all.
async function rssMb(pid: number): Promise<number | null> {
  try {
    const out = await new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(pid)], stderr: "null" })
      .output();
    const kb = Number(new TextDecoder().decode(out.stdout).trim());
    return out.code === 0 && kb > 0 ? Math.round(kb / 102.4) / 10 : null;
  } catch {
    return null;
  }
}

async function oneRun(idle: boolean): Promise<{ coldStartMs: number; idleRssMb: number | null }> {
  const t = await openTestControlPlane({ serve: true });
  const engine = await startTestEngine();
  const home = await Deno.makeTempDir({ prefix: "infernet-bench-" });
  const env = { INFERNET_HOME: home, INFERNET_UPGRADE_REGISTRY: "http://127.0.0.1:9" };
  try {
    const { pubkey } = JSON.parse((await runCli(["init", "--json"], env)).stdout);
    const server = `http://127.0.0.1:${t.server!.port}`;
    const started = performance.now();
    const child = cliCommand(
      ["start", "--server", server, "--engine-url", engine.url, "--no-auto-upgrade"],
      env,
    )
      .spawn();
    void child.stdout.cancel();
    void child.stderr.cancel();
    while (!t.cp.registry.get(pubkey)?.connection?.open) {
      if (performance.now() - started > 60_000) throw new Error("the daemon did not connect within 60 s");
      await sleep(10);
    }
    const coldStartMs = Math.round(performance.now() - started);
    let idleRssMb: number | null = null;
    if (idle) {
      await sleep(IDLE_MS);
      const pid = (await readDaemonPid(home))?.pid;
      idleRssMb = pid ? await rssMb(pid) : null;
    }
    child.kill("SIGTERM");
    await child.status;
    return { coldStartMs, idleRssMb };
  } finally {
    await engine.close();
    await t.close();
    await Deno.remove(home, { recursive: true });
  }
}

if (import.meta.main) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await oneRun(i === RUNS - 1));
  const cold = runs.map((r) => r.coldStartMs).sort((a, b) => a - b);
  console.log(JSON.stringify({
    bench: "daemon",
    runs: RUNS,
    cold_start_ms_median: cold[Math.floor(cold.length / 2)],
    cold_start_ms: cold,
    idle_rss_mb: runs.at(-1)!.idleRssMb,
    idle_ms: IDLE_MS,
  }));
}
