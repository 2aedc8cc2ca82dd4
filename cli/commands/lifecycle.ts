// `infernet stop | restart | logs`: the running daemon, found through its pid file. stop sends
// SIGTERM (the daemon drains) and waits; restart goes through systemd when the service is
// installed, else stops and starts `infernet start --log-file` in the background; logs prints the
// tail of $INFERNET_HOME/logs/daemon.log and can follow it.
import { CliError } from "../cli_error.ts";
import { logFilePath } from "../daemon/log_file.ts";
import { readDaemonPid, removeStalePidFile } from "../daemon/pid_file.ts";
import { resolveHome } from "../config.ts";
import { installedScope, STOP_TIMEOUT_SEC, systemctl, UNIT_NAME } from "../service/systemd_unit.ts";
import type { CommandContext } from "./context.ts";
import { parseFlags, positiveInt } from "./flags.ts";
import { sleep } from "../../shared/mod.ts";

const POLL_MS = 100;
async function isRunning(home: string): Promise<boolean> {
  return (await readDaemonPid(home))?.running ?? false;
}

// `kill` rather than Deno.kill: Deno.kill needs --allow-run for every program, `kill` alone does not.
async function sendSigterm(pid: number): Promise<void> {
  if ((await Deno.permissions.query({ name: "run", command: "kill" })).state !== "granted") {
    throw new CliError("service", `cannot signal the daemon (pid ${pid}): needs --allow-run=kill`);
  }
  const out = await new Deno.Command("kill", {
    args: ["-TERM", String(pid)],
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (out.code !== 0) {
    throw new CliError("service", `kill -TERM ${pid} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/** Stops the daemon of `home` (SIGTERM, then waits for its drain); false when none was running. */
export async function stopDaemon(
  ctx: CommandContext,
  home: string,
  timeoutMs = STOP_TIMEOUT_SEC * 1000,
): Promise<boolean> {
  const state = await readDaemonPid(home);
  if (!state?.running) {
    if (await removeStalePidFile(home)) ctx.print("removed a stale pid file (the daemon had died)");
    return false;
  }
  // Under systemd, stop the unit so it stays stopped; a daemon started by hand is signalled directly.
  const scope = await installedScope(ctx.env);
  if (scope) await systemctl(scope, ["stop", UNIT_NAME]);
  if (await isRunning(home)) {
    if (state.pid === null) throw new CliError("service", "the pid file names no pid; try again in a moment");
    await sendSigterm(state.pid);
  }
  ctx.print(`stopping the node daemon (pid ${state.pid}): finishing running jobs…`);
  const deadline = Date.now() + timeoutMs;
  while (await isRunning(home)) {
    if (Date.now() > deadline) {
      throw new CliError(
        "stop_timeout",
        `the daemon (pid ${state.pid}) is still draining after ${
          Math.round(timeoutMs / 1000)
        } s; wait, or kill -9 ${state.pid}`,
      );
    }
    await sleep(POLL_MS);
  }
  return true;
}

/** Runs `infernet stop [--timeout SECONDS]`. */
export async function runStop(ctx: CommandContext): Promise<void> {
  const f = parseFlags("stop", ctx.args, { timeout: { type: "string" } });
  const timeoutS = positiveInt("timeout", f.timeout) ?? STOP_TIMEOUT_SEC;
  const stopped = await stopDaemon(ctx, resolveHome(ctx.env), timeoutS * 1000);
  ctx.print(stopped ? "node stopped" : "no node daemon is running");
}

/** Runs `infernet restart [--timeout SECONDS]`. */
export async function runRestart(ctx: CommandContext): Promise<void> {
  const f = parseFlags("restart", ctx.args, { timeout: { type: "string" } });
  const timeoutMs = (positiveInt("timeout", f.timeout) ?? STOP_TIMEOUT_SEC) * 1000;
  const home = resolveHome(ctx.env);
  const scope = await installedScope(ctx.env);
  if (scope) {
    const out = await systemctl(scope, ["restart", UNIT_NAME]);
    if (out?.code === 0) {
      ctx.print(`restarted ${UNIT_NAME} (${scope}); follow it with: infernet logs -f`);
      return;
    }
    if (out) throw new CliError("service", `systemctl restart failed: ${out.stderr.split("\n")[0]}`);
  }
  await stopDaemon(ctx, home, timeoutMs);
  if ((await Deno.permissions.query({ name: "run", command: "infernet" })).state !== "granted") {
    throw new CliError(
      "service",
      "no 'infernet' command on PATH to start in the background; run 'infernet start'",
    );
  }
  const child = new Deno.Command("infernet", {
    args: ["start", "--log-file"],
    env: { INFERNET_HOME: home },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref();
  const deadline = Date.now() + 30_000;
  let exited = false;
  child.status.then(() => (exited = true));
  while (!(await isRunning(home))) {
    if (exited || Date.now() > deadline) {
      throw new CliError("service", "the daemon did not start; see why with: infernet logs");
    }
    await sleep(POLL_MS);
  }
  const pid = (await readDaemonPid(home))?.pid;
  ctx.print(`node daemon started in the background (pid ${pid}); follow it with: infernet logs -f`);
}

/** One log line for reading: `time LEVEL msg key=value…`; lines that are not JSON as they are. */
export function formatLogLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line);
    if (typeof entry !== "object" || entry === null || typeof entry.msg !== "string") return line;
  } catch {
    return line;
  }
  const { time, level, msg, svc: _svc, pid: _pid, ...rest } = entry;
  const fields = Object.entries(rest).map(([k, v]) =>
    `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`
  );
  return [time, String(level ?? "").toUpperCase(), msg, ...fields].filter((x) => x !== "").join(" ");
}

async function readOr(path: string, fallback: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return fallback;
    throw err;
  }
}

/** Runs `infernet logs [-f] [-n N] [--json]`. */
export async function runLogs(ctx: CommandContext): Promise<void> {
  const f = parseFlags("logs", ctx.args, {
    follow: { type: "boolean", short: "f" },
    lines: { type: "string", short: "n" },
    json: { type: "boolean" },
  });
  const n = positiveInt("lines", f.lines) ?? 50;
  const path = logFilePath(resolveHome(ctx.env));
  const show = (line: string) => ctx.print(f.json ? line : formatLogLine(line));
  const current = await readOr(path, "");
  if (current === "" && !f.follow && (await readOr(`${path}.1`, "")) === "") {
    ctx.print(`no log yet at ${path} (the daemon logs there when started by the service or with --log-file)`);
    return;
  }
  // The tail may reach back into the last rotated file.
  let lines = current.split("\n").slice(0, -1);
  if (lines.length < n) lines = [...(await readOr(`${path}.1`, "")).split("\n").slice(0, -1), ...lines];
  for (const line of lines.slice(-n)) show(line);
  if (f.follow) await follow(path, new TextEncoder().encode(current).length, show);
}

// Prints lines appended after `offset` until interrupted; starts over when the file is rotated.
async function follow(path: string, offset: number, show: (line: string) => void): Promise<void> {
  let stop = false;
  const onInt = () => (stop = true);
  Deno.addSignalListener("SIGINT", onInt);
  const dec = new TextDecoder();
  let pending = "";
  try {
    while (!stop) {
      let size = 0;
      try {
        size = (await Deno.stat(path)).size;
      } catch {
        size = 0;
      }
      if (size < offset) offset = 0;
      if (size > offset) {
        const file = await Deno.open(path, { read: true });
        try {
          await file.seek(offset, Deno.SeekMode.Start);
          const buf = new Uint8Array(size - offset);
          let read = 0;
          while (read < buf.length) {
            const got = await file.read(buf.subarray(read));
            if (got === null) break;
            read += got;
          }
          offset += read;
          pending += dec.decode(buf.subarray(0, read), { stream: true });
        } finally {
          file.close();
        }
        const parts = pending.split("\n");
        pending = parts.pop() ?? "";
        for (const line of parts) show(line);
      }
      await sleep(250);
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onInt);
  }
}
