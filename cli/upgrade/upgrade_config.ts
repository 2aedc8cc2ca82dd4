// Upgrade settings: config.json's `upgrade` object, then the environment, then flags.
//   {"upgrade": {"auto": true, "registry": "https://registry.npmjs.org", "package": "infernet",
//                "interval_hours": 6, "prerelease": false, "drain_timeout_s": 600,
//                "release_keys": ["npub1…"]}}
// INFERNET_UPGRADE_REGISTRY and INFERNET_UPGRADE_PACKAGE override the file; `--no-auto-upgrade`
// overrides both. Release keys (whose signature a release needs: release_signature.ts) add up:
// the built-in ones, the file's, and INFERNET_UPGRADE_RELEASE_KEYS (comma-separated).
import { CliError } from "../cli_error.ts";
import { parseOperatorKey } from "../../shared/mod.ts";
import { BUILT_IN_RELEASE_KEYS } from "./release_signature.ts";

/** The upgrade settings in effect. */
export interface UpgradeSettings {
  auto: boolean;
  registry: string;
  packageName: string;
  /** Mean time between checks (each wait is jittered by ±25 %). */
  intervalMs: number;
  prerelease: boolean;
  /** Longest the daemon waits for running jobs before it switches versions. */
  drainTimeoutMs: number;
  /** Public keys (hex) whose signed releases are installed; none: nothing is. */
  releaseKeys: string[];
}

/** What config.json may set (absent fields take the defaults). */
export type UpgradeConfig = Partial<UpgradeSettings>;

/** The defaults: daily-ish checks of the public registry, ten minutes of drain. */
export const UPGRADE_DEFAULTS: UpgradeSettings = {
  auto: true,
  registry: "https://registry.npmjs.org",
  packageName: "infernet",
  intervalMs: 6 * 3_600_000,
  prerelease: false,
  drainTimeoutMs: 600_000,
  releaseKeys: [...BUILT_IN_RELEASE_KEYS],
};

/** Public keys given as npub or hex (`where` names the source in errors) → hex. */
function releaseKeys(list: readonly unknown[], where: () => CliError): string[] {
  return list.map((k) => {
    const hex = typeof k === "string" ? parseOperatorKey(k) : null;
    if (hex === null) throw where();
    return hex;
  });
}

const bad = (what: string) => new CliError("config", `config.json: upgrade.${what}`);

function registryUrl(x: unknown, where: () => CliError): string {
  try {
    const u = new URL(String(x));
    if (typeof x === "string" && ["http:", "https:"].includes(u.protocol)) return x.replace(/\/+$/, "");
  } catch {
    // Falls through to the error.
  }
  throw where();
}

const PACKAGE_NAME = /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

/** Validates config.json's `upgrade` object. */
export function parseUpgradeConfig(raw: unknown): UpgradeConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw bad("must be an object");
  const o = raw as Record<string, unknown>;
  const known = [
    "auto",
    "registry",
    "package",
    "interval_hours",
    "prerelease",
    "drain_timeout_s",
    "release_keys",
  ];
  const unknown = Object.keys(o).find((k) => !known.includes(k));
  if (unknown) throw bad(`${unknown} is not a setting (${known.join(", ")})`);
  const out: UpgradeConfig = {};
  if (o.auto != null) {
    if (typeof o.auto !== "boolean") throw bad("auto must be true or false");
    out.auto = o.auto;
  }
  if (o.registry != null) {
    out.registry = registryUrl(o.registry, () => bad("registry must be an http(s) URL"));
  }
  if (o.package != null) {
    if (typeof o.package !== "string" || !PACKAGE_NAME.test(o.package)) {
      throw bad("package must be an npm package name");
    }
    out.packageName = o.package;
  }
  if (o.interval_hours != null) {
    if (typeof o.interval_hours !== "number" || !(o.interval_hours > 0) || o.interval_hours > 24 * 365) {
      throw bad("interval_hours must be a positive number of hours");
    }
    out.intervalMs = Math.max(100, Math.round(o.interval_hours * 3_600_000));
  }
  if (o.prerelease != null) {
    if (typeof o.prerelease !== "boolean") throw bad("prerelease must be true or false");
    out.prerelease = o.prerelease;
  }
  if (o.drain_timeout_s != null) {
    if (!Number.isSafeInteger(o.drain_timeout_s) || (o.drain_timeout_s as number) < 0) {
      throw bad("drain_timeout_s must be a whole number of seconds");
    }
    out.drainTimeoutMs = (o.drain_timeout_s as number) * 1000;
  }
  if (o.release_keys != null) {
    const why = () => bad("release_keys must be a list of public keys (npub1… or 64 hex)");
    if (!Array.isArray(o.release_keys)) throw why();
    out.releaseKeys = releaseKeys(o.release_keys, why);
  }
  return out;
}

/** The config as config.json stores it (only what differs from the defaults). */
export function upgradeConfigJson(cfg: UpgradeConfig): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  if (cfg.auto !== undefined) out.auto = cfg.auto;
  if (cfg.registry !== undefined) out.registry = cfg.registry;
  if (cfg.packageName !== undefined) out.package = cfg.packageName;
  if (cfg.intervalMs !== undefined) out.interval_hours = cfg.intervalMs / 3_600_000;
  if (cfg.prerelease !== undefined) out.prerelease = cfg.prerelease;
  if (cfg.drainTimeoutMs !== undefined) out.drain_timeout_s = Math.round(cfg.drainTimeoutMs / 1000);
  if (cfg.releaseKeys !== undefined) out.release_keys = cfg.releaseKeys;
  return Object.keys(out).length ? out : undefined;
}

/** Merges defaults, config.json, the environment and flags, once. */
export function resolveUpgradeSettings(
  cfg: UpgradeConfig | undefined,
  env: Record<string, string | undefined>,
  flags: { noAutoUpgrade?: boolean; prerelease?: boolean } = {},
): UpgradeSettings {
  const s = { ...UPGRADE_DEFAULTS, ...cfg };
  const fromEnv = env.INFERNET_UPGRADE_RELEASE_KEYS
    ? releaseKeys(
      env.INFERNET_UPGRADE_RELEASE_KEYS.split(",").filter((k) => k.trim() !== ""),
      () => new CliError("config", "INFERNET_UPGRADE_RELEASE_KEYS must be public keys (npub1… or hex)"),
    )
    : [];
  s.releaseKeys = [...new Set([...BUILT_IN_RELEASE_KEYS, ...cfg?.releaseKeys ?? [], ...fromEnv])];
  if (env.INFERNET_UPGRADE_REGISTRY) {
    s.registry = registryUrl(
      env.INFERNET_UPGRADE_REGISTRY,
      () => new CliError("config", "INFERNET_UPGRADE_REGISTRY must be an http(s) URL"),
    );
  }
  if (env.INFERNET_UPGRADE_PACKAGE) {
    if (!PACKAGE_NAME.test(env.INFERNET_UPGRADE_PACKAGE)) {
      throw new CliError("config", "INFERNET_UPGRADE_PACKAGE must be an npm package name");
    }
    s.packageName = env.INFERNET_UPGRADE_PACKAGE;
  }
  if (flags.noAutoUpgrade) s.auto = false;
  if (flags.prerelease) s.prerelease = true;
  return s;
}
