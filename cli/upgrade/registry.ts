// The npm registry, as far as upgrades need it: the packument (`GET /<name>`, abbreviated form)
// gives `dist-tags.latest` and each version's `dist` (`tarball`, `integrity`); the tarball is
// downloaded and checked against its sha512 SRI before anything is unpacked.
import { CliError } from "../cli_error.ts";
import { isNewer, newestVersion, parseSemVer } from "./semver.ts";

/** Where to look for new versions. */
export interface RegistryOptions {
  /** Registry base URL, e.g. https://registry.npmjs.org. */
  registry: string;
  /** The CLI's package name. */
  packageName: string;
  /** Consider prereleases (otherwise only `dist-tags.latest`, and only if it is a release). */
  prerelease?: boolean;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** A version the registry offers. */
export interface RegistryRelease {
  version: string;
  tarball: string;
  /** The sha512 SRI string (`sha512-<base64>`). */
  integrity: string;
}

/** The packument URL; a scoped name's slash is encoded, as npm's own client does. */
export function packumentUrl(registry: string, name: string): string {
  return `${registry.replace(/\/+$/, "")}/${name.startsWith("@") ? name.replace("/", "%2f") : name}`;
}

function unreachable(what: string, err: unknown): CliError {
  return new CliError("upgrade_failed", `${what}: ${(err as Error).message ?? err}`, { cause: err });
}

/** Reads the newest release from the registry (null when the package has no usable release). */
export async function fetchLatestRelease(opts: RegistryOptions): Promise<RegistryRelease | null> {
  const url = packumentUrl(opts.registry, opts.packageName);
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(url, {
      headers: { accept: "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8" },
      signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
    });
  } catch (err) {
    throw unreachable(`cannot reach the npm registry at ${opts.registry}`, err);
  }
  if (res.status === 404) {
    await res.body?.cancel();
    throw new CliError(
      "upgrade_failed",
      `the registry ${opts.registry} has no package '${opts.packageName}'`,
    );
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new CliError("upgrade_failed", `the npm registry answered HTTP ${res.status} for ${url}`);
  }
  const doc = await res.json().catch(() => null) as Record<string, unknown> | null;
  const versions = doc?.versions as Record<string, Record<string, unknown>> | undefined;
  const tags = doc?.["dist-tags"] as Record<string, unknown> | undefined;
  if (!versions || typeof versions !== "object") {
    throw new CliError("upgrade_failed", `the registry's answer for ${opts.packageName} is not a packument`);
  }
  let version: string | null;
  if (opts.prerelease) {
    version = newestVersion(Object.keys(versions), { prerelease: true });
  } else {
    const latest = typeof tags?.latest === "string" ? tags.latest : null;
    const parsed = latest ? parseSemVer(latest) : null;
    version = parsed && parsed.prerelease.length === 0 ? latest : null;
  }
  if (!version) return null;
  const dist = versions[version]?.dist as Record<string, unknown> | undefined;
  if (typeof dist?.tarball !== "string" || typeof dist.integrity !== "string") {
    throw new CliError(
      "upgrade_failed",
      `${opts.packageName}@${version} has no tarball with an integrity hash`,
    );
  }
  return { version, tarball: dist.tarball, integrity: dist.integrity };
}

/** The release to upgrade to, or null when `current` is already the newest. */
export async function checkForUpgrade(
  opts: RegistryOptions,
  current: string,
): Promise<RegistryRelease | null> {
  const latest = await fetchLatestRelease(opts);
  return latest && isNewer(latest.version, current) ? latest : null;
}

const base64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));

/** Checks bytes against an SRI string; only sha512 is accepted (sha1 alone is too weak). */
export async function checkIntegrity(data: Uint8Array<ArrayBuffer>, integrity: string): Promise<boolean> {
  const wanted = integrity.split(/\s+/).filter((h) => h.startsWith("sha512-")).map((h) => h.slice(7));
  if (wanted.length === 0) return false;
  const got = base64(new Uint8Array(await crypto.subtle.digest("SHA-512", data)));
  return wanted.some((w) => w.replace(/\?.*$/, "") === got);
}

/** Downloads a release's tarball and checks its sha512; throws a CliError otherwise. */
export async function downloadRelease(
  release: RegistryRelease,
  opts: { fetch?: typeof fetch; timeoutMs?: number; maxBytes?: number } = {},
): Promise<Uint8Array<ArrayBuffer>> {
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(release.tarball, {
      signal: AbortSignal.timeout(opts.timeoutMs ?? 300_000),
    });
  } catch (err) {
    throw unreachable(`cannot download ${release.tarball}`, err);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new CliError("upgrade_failed", `downloading ${release.tarball} failed: HTTP ${res.status}`);
  }
  const data = new Uint8Array(await res.arrayBuffer());
  if (data.length > (opts.maxBytes ?? 512 * 1024 * 1024)) {
    throw new CliError("upgrade_failed", `the tarball of ${release.version} is implausibly large`);
  }
  if (!(await checkIntegrity(data, release.integrity))) {
    throw new CliError(
      "upgrade_failed",
      `the tarball of ${release.version} does not match the registry's sha512 integrity; not installed`,
    );
  }
  return data;
}
