// `infernet service install [--user|--system] [--bin PATH] | uninstall | status [--json]`: the
// node daemon as a systemd service that starts at boot (system) or login (user), restarts on
// failure and drains on stop.
import { CliError } from "../cli_error.ts";
import { resolveHome } from "../config.ts";
import {
  installedScope,
  renderUnit,
  type ServiceScope,
  systemctl,
  UNIT_NAME,
  unitPath,
} from "../service/systemd_unit.ts";
import type { CommandContext } from "./context.ts";
import { parseFlags } from "./flags.ts";

const USAGE = "usage: infernet service install [--user|--system] [--bin PATH] | uninstall | status [--json]";

/**
 * The installed `infernet` command the unit runs: --bin, else INFERNET_BIN (set by cli/infernet.sh),
 * else this executable when it is the compiled binary.
 */
export function resolveLauncher(flag: string | undefined, env: Record<string, string | undefined>): string[] {
  const bin = flag ?? env.INFERNET_BIN ?? compiledBinary();
  if (!bin || !bin.startsWith("/")) {
    throw new CliError(
      "service",
      "cannot tell where the infernet command is installed; pass --bin /path/to/infernet",
    );
  }
  // The source launcher is a shell script; run it through sh so it needs no exec bit.
  return bin.endsWith(".sh") ? ["/bin/sh", bin] : [bin];
}

function compiledBinary(): string | null {
  try {
    const path = Deno.execPath();
    return /\/deno$/.test(path) ? null : path;
  } catch {
    return null;
  }
}

/** Runs `infernet service …`. */
export async function runService(ctx: CommandContext): Promise<void> {
  const [sub, ...rest] = ctx.args;
  if (sub === "install") return await install(ctx, rest);
  if (sub === "uninstall") return await uninstall(ctx, rest);
  if (sub === "status") return await status(ctx, rest);
  throw new CliError("usage", USAGE);
}

async function install(ctx: CommandContext, args: string[]): Promise<void> {
  const f = parseFlags("service install", args, {
    user: { type: "boolean" },
    system: { type: "boolean" },
    bin: { type: "string" },
  });
  if (f.user && f.system) throw new CliError("usage", "service install: pass --user or --system, not both");
  const scope: ServiceScope = f.system ? "system" : "user";
  const home = resolveHome(ctx.env);
  const path = unitPath(scope, ctx.env);
  const text = renderUnit({
    scope,
    execStart: [...resolveLauncher(f.bin, ctx.env), "start", "--log-file"],
    home,
    path: ctx.env.PATH,
    deno: ctx.env.DENO,
  });
  try {
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, text, { mode: 0o644 });
  } catch (err) {
    if (err instanceof Deno.errors.PermissionDenied && scope === "system") {
      throw new CliError(
        "service",
        `writing ${path} needs root: run 'sudo infernet service install --system'`,
      );
    }
    throw new CliError("service", `cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
  ctx.print(`wrote ${path}`);
  const reload = await systemctl(scope, ["daemon-reload"]);
  if (reload === null) {
    ctx.print("systemctl not found: enable and start the unit with your service manager");
    return;
  }
  const enable = await systemctl(scope, ["enable", "--now", UNIT_NAME]);
  if (reload.code !== 0 || enable?.code !== 0) {
    const why = (reload.code !== 0 ? reload.stderr : enable?.stderr) || "no message";
    throw new CliError("service", `unit written, but systemctl could not start it: ${why.split("\n")[0]}`);
  }
  const flag = scope === "user" ? " --user" : "";
  ctx.print(`enabled and started ${UNIT_NAME}; see it with: infernet service status, infernet logs -f`);
  if (scope === "user") {
    ctx.print(
      `to keep it running after logout: loginctl enable-linger $USER (systemctl${flag} status ${UNIT_NAME})`,
    );
  }
}

async function uninstall(ctx: CommandContext, args: string[]): Promise<void> {
  parseFlags("service uninstall", args, {});
  const scope = await installedScope(ctx.env);
  if (scope === null) {
    ctx.print(`no ${UNIT_NAME} installed`);
    return;
  }
  const path = unitPath(scope, ctx.env);
  // disable --now stops the daemon first (SIGTERM: it drains).
  await systemctl(scope, ["disable", "--now", UNIT_NAME]);
  try {
    await Deno.remove(path);
  } catch (err) {
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new CliError("service", `removing ${path} needs root: run 'sudo infernet service uninstall'`);
    }
    throw err;
  }
  await systemctl(scope, ["daemon-reload"]);
  ctx.print(`removed ${path}`);
}

async function status(ctx: CommandContext, args: string[]): Promise<void> {
  const f = parseFlags("service status", args, { json: { type: "boolean" } });
  const scope = await installedScope(ctx.env);
  const answer = async (verb: string) => {
    if (scope === null) return null;
    const out = await systemctl(scope, [verb, UNIT_NAME]);
    return out?.stdout.split("\n")[0] || null;
  };
  const view = {
    installed: scope !== null,
    scope,
    unit_path: scope ? unitPath(scope, ctx.env) : null,
    enabled: await answer("is-enabled"),
    active: await answer("is-active"),
  };
  if (f.json) {
    ctx.print(JSON.stringify(view));
    return;
  }
  if (!view.installed) {
    ctx.print(`not installed; install it with: infernet service install [--user|--system]`);
    return;
  }
  ctx.print(`unit:     ${view.unit_path} (${scope})`);
  ctx.print(`enabled:  ${view.enabled ?? "unknown (no systemctl)"}`);
  ctx.print(`active:   ${view.active ?? "unknown (no systemctl)"}`);
}
