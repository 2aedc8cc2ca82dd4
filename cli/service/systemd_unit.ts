// The systemd unit that runs the node daemon as a service: where it lives (user or system), its
// text, and which one is installed. The daemon gets the same explicit permissions as from a shell,
// because ExecStart runs the installed `infernet` command (the compiled binary carries its
// permissions; the source launcher cli/infernet.sh passes them to `deno run`).

/** The unit's file name. */
export const UNIT_NAME = "infernet.service";

/** A user unit (`systemctl --user`, no root) or a system unit (root). */
export type ServiceScope = "user" | "system";

/** Long enough for the daemon's drain (30 s of running jobs) plus its shutdown. */
export const STOP_TIMEOUT_SEC = 60;

/** The folder of units of a scope. */
export function unitDir(scope: ServiceScope, env: Record<string, string | undefined>): string {
  if (scope === "system") return "/etc/systemd/system";
  const config = env.XDG_CONFIG_HOME || (env.HOME ? `${env.HOME}/.config` : null);
  if (!config) throw new Error("cannot find the user's config folder: set HOME");
  return `${config}/systemd/user`;
}

/** The unit file's path for a scope. */
export function unitPath(scope: ServiceScope, env: Record<string, string | undefined>): string {
  return `${unitDir(scope, env)}/${UNIT_NAME}`;
}

/** What goes into the unit. */
export interface UnitOptions {
  scope: ServiceScope;
  /** The command line: the installed launcher, then `start --log-file`. */
  execStart: readonly string[];
  /** $INFERNET_HOME of the node. */
  home: string;
  /** PATH for the daemon (GPU tools, deno for the source launcher); the installer's own. */
  path?: string;
  /** The deno binary the source launcher runs (its DENO variable). */
  deno?: string;
}

/** Quotes one ExecStart word for systemd (spaces, quotes, `%` specifiers, `$` variables). */
export function quoteUnitArg(arg: string): string {
  const escaped = arg.replaceAll("%", () => "%%").replaceAll("$", () => "$$");
  if (!/[\s"'\\]/.test(escaped) && escaped !== "") return escaped;
  return `"${escaped.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

// Environment= values are quoted whole ("NAME=value") with the same rules.
function environmentLine(name: string, value: string): string {
  return `Environment=${quoteUnitArg(`${name}=${value}`)}`;
}

/** The unit file's text. */
export function renderUnit(opts: UnitOptions): string {
  const lines = [
    "# Written by `infernet service install`; remove it with `infernet service uninstall`.",
    "[Unit]",
    "Description=Infernet node daemon (serves inference jobs for the Infernet network)",
    "Wants=network-online.target",
    "After=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${opts.execStart.map(quoteUnitArg).join(" ")}`,
    environmentLine("INFERNET_HOME", opts.home),
    ...(opts.path ? [environmentLine("PATH", opts.path)] : []),
    ...(opts.deno ? [environmentLine("DENO", opts.deno)] : []),
    "Restart=on-failure",
    "RestartSec=5",
    // SIGTERM drains: no new jobs, running ones finish; only then does the daemon exit.
    "KillSignal=SIGTERM",
    `TimeoutStopSec=${STOP_TIMEOUT_SEC}`,
    "",
    "[Install]",
    `WantedBy=${opts.scope === "user" ? "default.target" : "multi-user.target"}`,
    "",
  ];
  return lines.join("\n");
}

/** Which scope has the unit installed (user first), or null. Unreadable folders count as absent. */
export async function installedScope(env: Record<string, string | undefined>): Promise<ServiceScope | null> {
  for (const scope of ["user", "system"] as const) {
    try {
      const path = unitPath(scope, env);
      if ((await Deno.permissions.query({ name: "read", path })).state !== "granted") continue;
      await Deno.stat(path);
      return scope;
    } catch {
      // Not there.
    }
  }
  return null;
}

/** Runs `systemctl [--user] …`; null when systemctl is absent or not permitted (--allow-run=systemctl). */
export async function systemctl(
  scope: ServiceScope,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string } | null> {
  try {
    if ((await Deno.permissions.query({ name: "run", command: "systemctl" })).state !== "granted") {
      return null;
    }
    const out = await new Deno.Command("systemctl", {
      args: scope === "user" ? ["--user", ...args] : args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(90_000),
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout).trim(), stderr: dec.decode(out.stderr).trim() };
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotCapable) return null;
    throw err;
  }
}
