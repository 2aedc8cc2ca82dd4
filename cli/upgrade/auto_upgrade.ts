// The upgrade sequence, by hand (`infernet upgrade`) or on a timer in the daemon:
//   check the registry → download the tarball (sha512 checked) → unpack into versions/<v>/ and
//   run it once (`--version`) → DRAIN (the node advertises no models, refuses new jobs, and lets
//   running ones finish, up to the drain limit) → switch `current` atomically → the daemon exits
//   with RESTART_EXIT_CODE and the launcher starts the new version with the same arguments and
//   environment, which registers again. A failure before the switch leaves the old version
//   running (and serving again, if it had started to drain), with the reason in the log.
import type { Logger } from "../../shared/mod.ts";
import { CliError } from "../cli_error.ts";
import { checkForUpgrade, downloadRelease, type RegistryRelease } from "./registry.ts";
import type { UpgradeSettings } from "./upgrade_config.ts";
import { isNewer } from "./semver.ts";
import { currentVersion, type InstalledVersion, installVersion, switchCurrent } from "./versions.ts";

/** The exit code that tells `cli/infernet.sh` to start the (new) current version again. */
export const RESTART_EXIT_CODE = 75;

/** Where this CLI runs from and how to run a new one. */
export interface UpgradeEnvironment {
  home: string;
  currentVersion: string;
  /** The running CLI's package root. */
  currentRoot: string;
  denoPath: string;
  fetch?: typeof fetch;
}

/** A node that can stop taking jobs for a while. */
export interface DrainableNode {
  /** Stops taking jobs and waits for running ones up to `timeoutMs`; true when all finished. */
  drain(timeoutMs: number): Promise<boolean>;
  /** Takes jobs again (after an upgrade that did not happen). */
  resume(): Promise<void>;
}

/** What one upgrade attempt did. */
export type UpgradeOutcome =
  | { status: "up_to_date"; current: string; latest: string | null }
  | { status: "switched"; from: string; to: string; drained: boolean }
  | { status: "failed"; current: string; target: string | null; reason: string };

/** Checks, downloads, unpacks and test-runs the newest release; null when there is none newer. */
export async function prepareUpgrade(
  settings: UpgradeSettings,
  env: UpgradeEnvironment,
): Promise<{ release: RegistryRelease; installed: InstalledVersion } | null> {
  const release = await checkForUpgrade(
    {
      registry: settings.registry,
      packageName: settings.packageName,
      prerelease: settings.prerelease,
      fetch: env.fetch,
    },
    env.currentVersion,
  );
  if (!release) return null;
  const tarball = await downloadRelease(release, { fetch: env.fetch });
  const installed = await installVersion(release, tarball, {
    home: env.home,
    currentRoot: env.currentRoot,
    denoPath: env.denoPath,
    packageName: settings.packageName,
    releaseKeys: settings.releaseKeys,
  });
  return { release, installed };
}

/** One whole attempt; never throws (the outcome says what happened). */
export async function runUpgrade(
  settings: UpgradeSettings,
  env: UpgradeEnvironment,
  opts: { node?: DrainableNode; log: Logger },
): Promise<UpgradeOutcome> {
  const { log } = opts;
  let target: string | null = null;
  try {
    // Installed and switched already (by `infernet upgrade` by hand): only drain and restart.
    const linked = await currentVersion(env.home);
    if (linked && isNewer(linked, env.currentVersion)) {
      const drained = opts.node ? await opts.node.drain(settings.drainTimeoutMs) : true;
      return { status: "switched", from: env.currentVersion, to: linked, drained };
    }
    const prepared = await prepareUpgrade(settings, env);
    if (!prepared) return { status: "up_to_date", current: env.currentVersion, latest: null };
    target = prepared.release.version;
    log.info("upgrade: new version installed and checked; draining", {
      from: env.currentVersion,
      to: target,
    });
    const drained = opts.node ? await opts.node.drain(settings.drainTimeoutMs) : true;
    if (!drained) log.warn("upgrade: drain limit reached with jobs still running", { to: target });
    try {
      await switchCurrent(env.home, prepared.installed);
    } catch (err) {
      await opts.node?.resume();
      throw err;
    }
    log.info("upgrade: switched", { from: env.currentVersion, to: target });
    return { status: "switched", from: env.currentVersion, to: target, drained };
  } catch (err) {
    const reason = err instanceof CliError ? err.message : `unexpected: ${(err as Error).message ?? err}`;
    log.warn("upgrade failed; staying on the running version", {
      current: env.currentVersion,
      target,
      reason,
    });
    return { status: "failed", current: env.currentVersion, target, reason };
  }
}

/** The wait before the next check: the interval ±25 %, so a fleet does not check in lockstep. */
export function jitteredIntervalMs(intervalMs: number, random = Math.random): number {
  return Math.round(intervalMs * (0.75 + 0.5 * random()));
}

/** Checks on a jittered timer while the daemon runs; calls `onSwitched` after a switch. */
export class AutoUpgrader {
  #timer: ReturnType<typeof setTimeout> | null = null;
  #running: Promise<UpgradeOutcome> | null = null;
  #stopped = false;

  constructor(
    private readonly settings: UpgradeSettings,
    private readonly env: UpgradeEnvironment,
    private readonly opts: { node: DrainableNode; log: Logger; onSwitched: (o: UpgradeOutcome) => void },
  ) {}

  /** Schedules the first check. */
  start(): void {
    this.#schedule();
  }

  /** Stops the timer (a running attempt finishes). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
  }

  /** Runs an attempt now unless one is running. */
  checkNow(): Promise<UpgradeOutcome> {
    this.#running ??= runUpgrade(this.settings, this.env, this.opts).finally(() => (this.#running = null));
    return this.#running;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(async () => {
      const outcome = await this.checkNow();
      if (outcome.status !== "switched") return this.#schedule();
      if (this.#stopped) return; // stopping anyway: the next start runs the new version
      this.#stopped = true;
      this.opts.onSwitched(outcome);
    }, jitteredIntervalMs(this.settings.intervalMs));
  }
}

/** Where the running CLI lives: its package root is two folders above this file. */
export function runningEnvironment(home: string, currentVersion: string): UpgradeEnvironment {
  return {
    home,
    currentVersion,
    currentRoot: new URL("../..", import.meta.url).pathname.replace(/\/$/, ""),
    denoPath: Deno.execPath(),
  };
}
