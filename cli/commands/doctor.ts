// `infernet doctor [--json]`: checks what a node needs to earn, each OK, WARN or FAIL with a
// one-line fix: key file, engine, control plane and clock, GPU tools, advertised address, disk
// space, registration. Exits 1 when any check FAILs.
import { CliError } from "../cli_error.ts";
import { type NodeConfig, parseUrlFlag } from "../config.ts";
import { detectEngine } from "../engines/detect.ts";
import { runCommand } from "../hardware/command_runner.ts";
import { NVIDIA_SMI_ARGS, parseNvidiaSmiCsv } from "../hardware/nvidia.ts";
import { parseRocmSmiJson, ROCM_SMI_ARGS } from "../hardware/amd.ts";
import { keyPath, loadIdentity, type NodeIdentity } from "../identity/node_key.ts";
import { systemDiskSpace } from "../models/disk_space.ts";
import { chooseAdvertisedAddress, listInterfaces } from "../network/advertised_address.ts";
import { type CommandContext, loadNodeConfig } from "./context.ts";
import { parseFlags } from "./flags.ts";

/** A check's outcome. */
export type CheckStatus = "ok" | "warn" | "fail";

/** One check: what was found, and what to do when it is not OK. */
export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

/** NIP-98 events are accepted within ±60 s of the server's clock. */
export const MAX_CLOCK_SKEW_MS = 60_000;
const FREE_WARN_BYTES = 10 * 1024 ** 3;
const FREE_FAIL_BYTES = 1024 ** 3;
const TIMEOUT_MS = 5_000;

const ok = (name: string, detail: string): CheckResult => ({ name, status: "ok", detail });
const warn = (name: string, detail: string, fix: string): CheckResult => ({
  name,
  status: "warn",
  detail,
  fix,
});
const fail = (name: string, detail: string, fix: string): CheckResult => ({
  name,
  status: "fail",
  detail,
  fix,
});

/** Judges the clock offset to the server (server time minus ours): FAIL past ±60 s, WARN past ±30 s. */
export function checkClockSkew(skewMs: number): CheckResult {
  const s = Math.round(skewMs / 1000);
  const detail = `${s >= 0 ? "+" : ""}${s} s against the server`;
  const fix = "sync the clock: sudo timedatectl set-ntp true (signed requests must be within ±60 s)";
  if (Math.abs(skewMs) > MAX_CLOCK_SKEW_MS) return fail("clock", detail, fix);
  if (Math.abs(skewMs) > MAX_CLOCK_SKEW_MS / 2) return warn("clock", detail, fix);
  return ok("clock", detail);
}

/** Judges free bytes in the node's home (null: could not tell). */
export function checkDiskSpace(home: string, freeBytes: number | null): CheckResult {
  if (freeBytes === null) {
    return warn("disk", `could not check free space in ${home}`, "check with: df -h " + home);
  }
  const gb = `${(freeBytes / 1024 ** 3).toFixed(1)} GB free in ${home}`;
  const fix = "free disk space (models need several GB): infernet model list, infernet model remove <name>";
  if (freeBytes < FREE_FAIL_BYTES) return fail("disk", gb, fix);
  if (freeBytes < FREE_WARN_BYTES) return warn("disk", gb, fix);
  return ok("disk", gb);
}

async function checkKey(home: string): Promise<{ result: CheckResult; identity: NodeIdentity | null }> {
  const path = keyPath(home);
  let mode: number | null;
  try {
    mode = (await Deno.stat(path)).mode;
  } catch {
    return {
      result: fail("key", `no key file at ${path}`, "create the node identity: infernet init"),
      identity: null,
    };
  }
  let identity: NodeIdentity | null = null;
  try {
    identity = await loadIdentity(home);
  } catch (err) {
    return {
      result: fail("key", (err as Error).message, "restore node.key from a backup, or infernet init --force"),
      identity,
    };
  }
  if (mode !== null && (mode & 0o077) !== 0) {
    const m = (mode & 0o777).toString(8).padStart(4, "0");
    return {
      result: fail("key", `${path} is mode ${m}: others can read the node's secret key`, `chmod 600 ${path}`),
      identity,
    };
  }
  return { result: ok("key", `${path} (mode 0600), ${identity.npub}`), identity };
}

async function checkEngine(config: NodeConfig): Promise<CheckResult> {
  const engine = await detectEngine({ engineUrl: config.engineUrl ?? undefined });
  if (!engine) {
    const where = config.engineUrl ?? "11434, 8000, 30000 or 8080";
    return fail(
      "engine",
      `no inference engine answers at ${where}`,
      'start an engine (e.g. ollama serve), or set "engine_url" in $INFERNET_HOME/config.json',
    );
  }
  if (engine.models.length === 0) {
    return fail(
      "engine",
      `${engine.kind} at ${engine.baseUrl} serves no models`,
      "load a model: infernet model pull hf:org/repo, or ollama pull <model>",
    );
  }
  const test = engine.kind === "test" ? " — TEST ENGINE, not a real model" : "";
  return ok("engine", `${engine.kind} at ${engine.baseUrl}, ${engine.models.length} model(s)${test}`);
}

async function checkServer(server: string | null): Promise<CheckResult[]> {
  if (!server) {
    const fix = "register with a control plane: infernet register --server URL";
    return [
      fail("server", "no control plane configured", fix),
      warn("clock", "not checked (no server)", fix),
    ];
  }
  const started = Date.now();
  let res: Response;
  try {
    res = await fetch(`${server}/health`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    await res.body?.cancel();
  } catch (err) {
    const detail = `cannot reach ${server}: ${(err as Error).message}`;
    const fix = "check the URL and this machine's outbound network (firewall, DNS, proxy)";
    return [fail("server", detail, fix), warn("clock", "not checked (server unreachable)", fix)];
  }
  const server_ = res.ok ? ok("server", `${server} answers (${Date.now() - started} ms)`) : fail(
    "server",
    `${server}/health answered HTTP ${res.status}`,
    "check the server URL (infernet register --server URL)",
  );
  const date = Date.parse(res.headers.get("date") ?? "");
  if (Number.isNaN(date)) {
    return [server_, warn("clock", "the server sent no Date header", "check the clock with: timedatectl")];
  }
  // The Date header has whole seconds; compare it with the middle of the round trip.
  const local = (started + Date.now()) / 2;
  return [server_, checkClockSkew(date + 500 - local)];
}

async function checkGpuTools(): Promise<CheckResult> {
  const [nv, amd] = await Promise.all([
    runCommand("nvidia-smi", [...NVIDIA_SMI_ARGS]),
    runCommand("rocm-smi", [...ROCM_SMI_ARGS]),
  ]);
  if (nv && nv.code !== 0) {
    const why = nv.stdout.split("\n").find((l) => l.trim())?.trim() ?? `exit ${nv.code}`;
    return fail(
      "gpu",
      `nvidia-smi fails: ${why}`,
      "reinstall or reload the NVIDIA driver (a driver/library mismatch needs a reboot)",
    );
  }
  const gpus = [
    ...(nv ? parseNvidiaSmiCsv(nv.stdout).gpus : []),
    ...(amd ? parseRocmSmiJson(amd.stdout) : []),
  ];
  if (gpus.length > 0) {
    const names = [...new Set(gpus.map((g) => g.name))].join(", ");
    return ok("gpu", `${gpus.length} GPU(s): ${names}`);
  }
  if (nv || amd) {
    return warn(
      "gpu",
      `${nv ? "nvidia-smi" : "rocm-smi"} found no GPU: CPU-only`,
      "check the GPU is passed through (docker --gpus all)",
    );
  }
  return warn(
    "gpu",
    "no nvidia-smi or rocm-smi: this node serves on the CPU",
    "on a GPU machine, install the NVIDIA driver (nvidia-smi) or ROCm (rocm-smi)",
  );
}

function checkAddress(env: Record<string, string | undefined>): CheckResult {
  let chosen;
  try {
    chosen = chooseAdvertisedAddress(listInterfaces(), { override: env.INFERNET_PUBLIC_ADDRESS });
  } catch (err) {
    return fail("address", (err as Error).message, "fix or unset INFERNET_PUBLIC_ADDRESS");
  }
  const fix = "set INFERNET_PUBLIC_ADDRESS to this machine's public IP (gateway mode works without it)";
  if (!chosen) return warn("address", "no usable network address found", fix);
  const where = chosen.source === "override" ? "INFERNET_PUBLIC_ADDRESS" : chosen.interfaceName;
  const detail = `${chosen.address} (${where}, ${chosen.scope.replace("_", " ")})`;
  if (chosen.dockerBridgeRange) return warn("address", `${detail}: looks like a Docker bridge address`, fix);
  if (chosen.scope === "private") return warn("address", `${detail}: not reachable from the internet`, fix);
  return ok("address", detail);
}

async function checkRegistered(server: string | null, identity: NodeIdentity | null): Promise<CheckResult> {
  if (!server || !identity) {
    return warn(
      "registered",
      "not checked (needs a key and a server)",
      "infernet init, then infernet register --server URL",
    );
  }
  try {
    const res = await fetch(`${server}/api/nodes/${identity.pubkey}`, {
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const body = await res.json().catch(() => ({}));
    if (res.status === 404) {
      return fail(
        "registered",
        `${server} does not know this node`,
        "infernet register (or infernet start, which registers)",
      );
    }
    if (!res.ok) {
      return fail(
        "registered",
        `${server} answered HTTP ${res.status}`,
        "try again later, or check the server URL",
      );
    }
    const live = body.live ? "live" : "registered, not connected";
    return body.live
      ? ok("registered", live)
      : warn("registered", live, "start the daemon: infernet start (or infernet service install)");
  } catch (err) {
    return fail(
      "registered",
      `cannot ask ${server}: ${(err as Error).message}`,
      "check the network, then run infernet doctor again",
    );
  }
}

/** Runs every check. */
export async function runChecks(ctx: CommandContext, serverFlag?: string): Promise<CheckResult[]> {
  const { home, config } = await loadNodeConfig(ctx);
  const serverText = serverFlag ?? config.server ?? ctx.env.INFERNET_SERVER ?? null;
  const server = serverText ? parseUrlFlag("server", serverText) : null;
  const key = await checkKey(home);
  const [engine, serverChecks, gpu, free] = await Promise.all([
    checkEngine(config),
    checkServer(server),
    checkGpuTools(),
    systemDiskSpace.freeBytes(home),
  ]);
  const registered = serverChecks[0].status === "ok" ? await checkRegistered(server, key.identity) : warn(
    "registered",
    `not checked (${server ? "server unreachable" : "no server"})`,
    "fix the server check first",
  );
  return [
    key.result,
    engine,
    ...serverChecks,
    gpu,
    checkAddress(ctx.env),
    checkDiskSpace(home, free),
    registered,
  ];
}

/** Runs `infernet doctor`. */
export async function runDoctor(ctx: CommandContext): Promise<void> {
  const f = parseFlags("doctor", ctx.args, { server: { type: "string" }, json: { type: "boolean" } });
  const checks = await runChecks(ctx, f.server);
  const failed = checks.filter((c) => c.status === "fail").length;
  if (f.json) ctx.print(JSON.stringify({ ok: failed === 0, checks }));
  else {
    const width = Math.max(...checks.map((c) => c.name.length));
    for (const c of checks) {
      ctx.print(`${c.status.toUpperCase().padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}`);
      if (c.fix && c.status !== "ok") ctx.print(`${" ".repeat(width + 8)}fix: ${c.fix}`);
    }
  }
  if (failed > 0) throw new CliError("checks_failed", `${failed} check(s) failed`);
}
