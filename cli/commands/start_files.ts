// `infernet start`'s files around the daemon: the locked pid file in $INFERNET_HOME (one daemon
// per home; `infernet stop` reads it) and, with `--log-file` (the service passes it), every log
// and status line appended to $INFERNET_HOME/logs/daemon.log, rotated by size.
import { createLogger, isLogLevel } from "../../shared/mod.ts";
import { logFilePath, RotatingLogFile } from "../daemon/log_file.ts";
import { PidFile } from "../daemon/pid_file.ts";
import { type CommandContext, loadNodeConfig } from "./context.ts";
import { runStart } from "./start.ts";

/** Runs `infernet start [--log-file] …` holding the pid file; removes it when the daemon exits. */
export async function runStartWithFiles(outer: CommandContext): Promise<void> {
  const logToFile = outer.args.includes("--log-file");
  const args = outer.args.filter((a) => a !== "--log-file");
  const { home } = await loadNodeConfig(outer);
  const pidFile = await PidFile.acquire(home);
  const logFile = logToFile ? RotatingLogFile.open(logFilePath(home)) : null;
  const ctx = logFile ? fileContext({ ...outer, args }, logFile) : { ...outer, args };
  try {
    await runStart(ctx);
  } catch (err) {
    // Startup failures reach the file too: a background or service start has no terminal.
    if (logFile) ctx.log.error("start failed", { err: (err as Error).message ?? String(err) });
    throw err;
  } finally {
    logFile?.close();
    await pidFile.release();
  }
}

// Log lines and printed lines both go to the file as JSON lines (info and up unless set lower).
function fileContext(ctx: CommandContext, file: RotatingLogFile): CommandContext {
  const level = ctx.env.INFERNET_LOG_LEVEL ?? "info";
  const log = createLogger({
    level: isLogLevel(level) ? level : "info",
    write: (line) => file.writeLine(line),
    fields: { svc: "node", pid: Deno.pid },
  });
  return { ...ctx, log, print: (line) => log.info(line) };
}
