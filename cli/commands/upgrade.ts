// `infernet upgrade [--check] [--prerelease] [--json]`: the auto-upgrade's steps by hand. With
// --check it only asks the registry; otherwise it downloads, checks and installs the newest
// version and switches `current` to it. A running daemon notices the switch at its next check,
// drains and restarts with it (or restart it now: SIGTERM, then `infernet start`).
import { CliError } from "../cli_error.ts";
import { runningEnvironment, runUpgrade } from "../upgrade/auto_upgrade.ts";
import { fetchLatestRelease } from "../upgrade/registry.ts";
import { isNewer } from "../upgrade/semver.ts";
import { resolveUpgradeSettings } from "../upgrade/upgrade_config.ts";
import { CLI_VERSION } from "../version.ts";
import { type CommandContext, loadNodeConfig } from "./context.ts";
import { parseFlags } from "./flags.ts";

/** Runs `infernet upgrade`. */
export async function runUpgradeCommand(ctx: CommandContext): Promise<void> {
  const f = parseFlags("upgrade", ctx.args, {
    check: { type: "boolean" },
    prerelease: { type: "boolean" },
    json: { type: "boolean" },
  });
  const { home, config } = await loadNodeConfig(ctx);
  const settings = resolveUpgradeSettings(config.upgrade, ctx.env, { prerelease: f.prerelease });
  const where = { registry: settings.registry, package: settings.packageName };
  if (f.check) {
    const latest = await fetchLatestRelease({
      registry: settings.registry,
      packageName: settings.packageName,
      prerelease: settings.prerelease,
    });
    const available = latest !== null && isNewer(latest.version, CLI_VERSION);
    if (f.json) {
      ctx.print(
        JSON.stringify({
          current: CLI_VERSION,
          latest: latest?.version ?? null,
          upgrade_available: available,
          ...where,
        }),
      );
    } else {
      ctx.print(
        available
          ? `${latest!.version} is available (running ${CLI_VERSION}); run 'infernet upgrade' to install it`
          : `up to date: ${CLI_VERSION} (newest on ${settings.registry}: ${latest?.version ?? "none"})`,
      );
    }
    return;
  }
  const outcome = await runUpgrade(settings, runningEnvironment(home, CLI_VERSION), { log: ctx.log });
  if (f.json) {
    ctx.print(JSON.stringify({ ...outcome, ...where }));
    if (outcome.status === "failed") throw new CliError("upgrade_failed", outcome.reason);
    return;
  }
  switch (outcome.status) {
    case "up_to_date":
      ctx.print(`up to date: ${CLI_VERSION}`);
      return;
    case "switched":
      ctx.print(`upgraded ${outcome.from} → ${outcome.to} (${home}/current)`);
      ctx.print(
        "a running daemon restarts with it at its next check; to restart now, stop it and run 'infernet start'",
      );
      return;
    case "failed":
      throw new CliError("upgrade_failed", `upgrade failed, still on ${CLI_VERSION}: ${outcome.reason}`);
  }
}
