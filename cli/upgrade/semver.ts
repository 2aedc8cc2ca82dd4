// Semantic versions (semver.org 2.0.0) as npm publishes them: parse, compare by precedence
// (§11: a prerelease ranks below its release; numeric identifiers numerically), and pick the
// newest of a list. Build metadata (`+…`) is ignored for precedence, as the spec says.

/** A parsed version. */
export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  /** Prerelease identifiers (`1.0.0-rc.1` → ["rc", "1"]); empty for a release. */
  prerelease: string[];
  raw: string;
}

const SEMVER =
  /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/** Parses a version; null when it is not semver. */
export function parseSemVer(text: string): SemVer | null {
  const m = SEMVER.exec(text.trim());
  if (!m) return null;
  const nums = [m[1], m[2], m[3]].map(Number);
  if (!nums.every(Number.isSafeInteger)) return null;
  return {
    major: nums[0],
    minor: nums[1],
    patch: nums[2],
    prerelease: m[4] ? m[4].split(".") : [],
    raw: text,
  };
}

function compareIdentifiers(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return Math.sign(Number(a) - Number(b));
  if (an) return -1; // numeric identifiers rank below alphanumeric ones (§11.4.3)
  if (bn) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Compares two versions by precedence: negative, zero or positive. */
export function compareSemVer(a: SemVer, b: SemVer): number {
  const core = Math.sign(a.major - b.major) || Math.sign(a.minor - b.minor) || Math.sign(a.patch - b.patch);
  if (core !== 0) return core;
  if (a.prerelease.length === 0 || b.prerelease.length === 0) {
    return b.prerelease.length - a.prerelease.length === 0 ? 0 : a.prerelease.length === 0 ? 1 : -1;
  }
  for (let i = 0; i < Math.min(a.prerelease.length, b.prerelease.length); i++) {
    const c = compareIdentifiers(a.prerelease[i], b.prerelease[i]);
    if (c !== 0) return c;
  }
  return Math.sign(a.prerelease.length - b.prerelease.length);
}

/** True when `candidate` is a valid version newer than `current`. */
export function isNewer(candidate: string, current: string): boolean {
  const a = parseSemVer(candidate);
  const b = parseSemVer(current);
  return a !== null && b !== null && compareSemVer(a, b) > 0;
}

/** The newest of the versions (prereleases only when asked); null when none qualifies. */
export function newestVersion(
  versions: Iterable<string>,
  opts: { prerelease?: boolean } = {},
): string | null {
  let best: SemVer | null = null;
  for (const v of versions) {
    const s = parseSemVer(v);
    if (!s || (s.prerelease.length > 0 && !opts.prerelease)) continue;
    if (!best || compareSemVer(s, best) > 0) best = s;
  }
  return best?.raw ?? null;
}
