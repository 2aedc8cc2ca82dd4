// Signed releases: a version is installed by `infernet upgrade` (and the daemon's auto-upgrade) only
// when the package carries `RELEASE.json`, a Nostr event (kind 7490) signed by a trusted release key
// whose content lists every other file of the package with its SHA-256. The registry's own sha512
// only proves the tarball is the one the registry serves; this proves who made it, so a registry
// account taken over, or a package name registered by someone else, installs nothing.
//
// Content, canonical JSON: {"files": {"<path in the package>": "<sha256 hex>", …}, "package": "<npm
// name>", "version": "<semver>"}; tags ["package", name], ["version", version]. Checked before any
// file is written or run: the signature and id, the key among the trusted ones, the name and
// version, and the files exactly (none missing, none extra, every hash).
import { bytesToHex } from "@noble/hashes/utils.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { finalizeEvent, type NostrEvent, verifyEvent } from "nostr-tools/pure";
import { npubEncode } from "nostr-tools/nip19";
import { canonicalJson, isRecord } from "../../shared/mod.ts";
import { CliError } from "../cli_error.ts";

/** The release event's kind. */
export const RELEASE_KIND = 7490;
/** The file, at the package's root, that holds the signed release event. */
export const RELEASE_FILE = "RELEASE.json";

/**
 * The release keys this build trusts (hex), besides `upgrade.release_keys` and
 * INFERNET_UPGRADE_RELEASE_KEYS. Empty until the project publishes signed releases: then its
 * maintainers' public key goes here, and until then a node upgrades only from keys its operator
 * names.
 */
export const BUILT_IN_RELEASE_KEYS: readonly string[] = [];

/** A file of the package: its path from the package root and its bytes. */
export interface ReleaseFile {
  path: string;
  data: Uint8Array;
}

/** The SHA-256 (hex) of every file but RELEASE.json, by path, sorted. */
export function releaseManifest(files: readonly ReleaseFile[]): Record<string, string> {
  const entries = files.filter((f) => f.path !== RELEASE_FILE).map((
    f,
  ) => [f.path, bytesToHex(sha256(f.data))]);
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Signs a release of `files` (RELEASE.json among them is ignored) as `packageName`@`version`. */
export function signRelease(
  secretKey: Uint8Array,
  release: { packageName: string; version: string; files: readonly ReleaseFile[] },
): NostrEvent {
  return finalizeEvent({
    kind: RELEASE_KIND,
    created_at: Math.floor(Date.now() / 1000),
    tags: [["package", release.packageName], ["version", release.version]],
    content: canonicalJson({
      files: releaseManifest(release.files),
      package: release.packageName,
      version: release.version,
    }),
  }, secretKey);
}

const refused = (message: string) => new CliError("upgrade_failed", message);

/**
 * Checks a package's files (paths from its root) against its RELEASE.json; throws a CliError that
 * says what is wrong. `trustedKeys` are hex public keys; none trusted refuses every release.
 */
export function checkRelease(
  files: readonly ReleaseFile[],
  expect: { packageName: string; version: string; trustedKeys: readonly string[] },
): void {
  const what = `${expect.packageName}@${expect.version}`;
  if (expect.trustedKeys.length === 0) {
    throw refused(
      `no release key is trusted, so ${what} is not installed: name the publisher's key in ` +
        `config.json's upgrade.release_keys (or INFERNET_UPGRADE_RELEASE_KEYS)`,
    );
  }
  const signed = files.find((f) => f.path === RELEASE_FILE);
  if (!signed) throw refused(`${what} is not signed (no ${RELEASE_FILE})`);
  let event: unknown;
  try {
    event = JSON.parse(new TextDecoder().decode(signed.data));
  } catch {
    throw refused(`${what}: ${RELEASE_FILE} is not JSON`);
  }
  if (!isRecord(event) || event.kind !== RELEASE_KIND || !verifyEvent(event as unknown as NostrEvent)) {
    throw refused(`${what}: ${RELEASE_FILE} is not a validly signed kind-${RELEASE_KIND} event`);
  }
  const e = event as unknown as NostrEvent;
  if (!expect.trustedKeys.includes(e.pubkey)) {
    throw refused(`${what} is signed by ${npubEncode(e.pubkey)}, which is not a trusted release key`);
  }
  let content: unknown;
  try {
    content = JSON.parse(e.content);
  } catch {
    content = null;
  }
  if (!isRecord(content) || !isRecord(content.files)) throw refused(`${what}: the release lists no files`);
  if (content.package !== expect.packageName || content.version !== expect.version) {
    throw refused(`${what}: the release signed is ${String(content.package)}@${String(content.version)}`);
  }
  const listed = content.files as Record<string, unknown>;
  const actual = releaseManifest(files);
  for (const [path, hash] of Object.entries(actual)) {
    if (!Object.hasOwn(listed, path)) throw refused(`${what}: ${path} is not in the signed release`);
    if (listed[path] !== hash) throw refused(`${what}: ${path} differs from the signed release`);
  }
  const missing = Object.keys(listed).find((path) => !Object.hasOwn(actual, path));
  if (missing) throw refused(`${what}: ${missing} of the signed release is missing`);
}
