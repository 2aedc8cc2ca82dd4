// Versions on disk: `$INFERNET_HOME/versions/<v>/package/` holds an unpacked, verified CLI, and
// `$INFERNET_HOME/current` is a symlink to the one the launcher (`cli/infernet.sh`) runs. A
// version is unpacked into a temporary folder and renamed into place only once it is complete;
// `current` is switched by renaming a fresh symlink over it, which is atomic on POSIX.
import { CliError } from "../cli_error.ts";
import type { RegistryRelease } from "./registry.ts";
import { readTgz, TarError, writeTarFiles } from "./tar.ts";
import { checkRelease } from "./release_signature.ts";

/** An installed version, ready to switch to. */
export interface InstalledVersion {
  version: string;
  /** The package root (holds `cli/main.ts`). */
  root: string;
}

/** What installing needs besides the tarball. */
export interface InstallOptions {
  home: string;
  /** The running CLI's package root: its `package.json` and `node_modules` are compared and shared. */
  currentRoot: string;
  /** The Deno binary used to check that the new version runs. */
  denoPath: string;
  /** The package's npm name and the release keys (hex) one of which must have signed it. */
  packageName: string;
  releaseKeys: readonly string[];
  verifyTimeoutMs?: number;
}

const fail = (message: string, cause?: unknown) => new CliError("upgrade_failed", message, { cause });

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function readJson(path: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return null;
  }
}

/**
 * Creates a symlink. Deno.symlink needs unscoped read and write permissions, which the daemon
 * does not have (it may write only in its home), so it falls back to the system's `ln -s`.
 */
export async function makeSymlink(target: string, path: string): Promise<void> {
  try {
    await Deno.symlink(target, path);
    return;
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) throw err;
  }
  const out = await new Deno.Command("ln", { args: ["-s", target, path], stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw fail(`ln -s ${target} ${path}: ${new TextDecoder().decode(out.stderr).trim()}`);
}

function sameDependencies(a: unknown, b: unknown): boolean {
  const norm = (x: unknown) => JSON.stringify(Object.entries((x ?? {}) as object).sort());
  return norm(a) === norm(b);
}

/**
 * Gives the new version its dependencies: its own `node_modules` when the tarball bundles them
 * (`bundleDependencies`), else the running version's when both declare the same dependencies.
 */
async function linkDependencies(root: string, opts: InstallOptions, version: string): Promise<void> {
  if (await exists(`${root}/node_modules`)) return;
  const next = await readJson(`${root}/package.json`);
  const current = await readJson(`${opts.currentRoot}/package.json`);
  if (!current || !sameDependencies(next?.dependencies, current.dependencies)) {
    throw fail(
      `${version} needs different npm dependencies than this install; upgrade with install.sh instead`,
    );
  }
  const modules = await Deno.realPath(`${opts.currentRoot}/node_modules`).catch((err) => {
    throw fail(`cannot find this install's node_modules: ${(err as Error).message}`, err);
  });
  await makeSymlink(modules, `${root}/node_modules`);
}

/** Runs `<root>/cli/main.ts --version` with no permissions but env; it must print `version`. */
export async function verifyVersion(root: string, version: string, opts: InstallOptions): Promise<void> {
  const cmd = new Deno.Command(opts.denoPath, {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--allow-env",
      "--config",
      `${root}/deno.json`,
      `${root}/cli/main.ts`,
      "--version",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(opts.verifyTimeoutMs ?? 60_000),
  });
  let out: Deno.CommandOutput;
  try {
    out = await cmd.output();
  } catch (err) {
    throw fail(`cannot run ${version} to check it: ${(err as Error).message}`, err);
  }
  const printed = new TextDecoder().decode(out.stdout).trim();
  if (out.code !== 0 || printed !== version) {
    const why = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-1)[0] ||
      `printed '${printed}'`;
    throw fail(`${version} does not run (exit ${out.code}): ${why}`);
  }
}

/** Unpacks a downloaded (and integrity-checked) tarball into `versions/<v>/` and checks it runs. */
export async function installVersion(
  release: RegistryRelease,
  tarball: Uint8Array<ArrayBuffer>,
  opts: InstallOptions,
): Promise<InstalledVersion> {
  if (!/^[0-9A-Za-z.+-]{1,64}$/.test(release.version)) throw fail(`bad version '${release.version}'`);
  const dir = `${opts.home}/versions`;
  const dest = `${dir}/${release.version}`;
  const root = `${dest}/package`;
  if (await exists(`${dest}/.verified`)) {
    await verifyVersion(root, release.version, opts);
    return { version: release.version, root };
  }
  await Deno.mkdir(dir, { recursive: true });
  const staging = `${dir}/.${release.version}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    let files;
    try {
      files = await readTgz(tarball);
    } catch (err) {
      if (err instanceof TarError) {
        throw fail(`the tarball of ${release.version} is invalid: ${err.message}`, err);
      }
      throw err;
    }
    // npm tarballs hold one top folder, normally `package/`; it becomes `package/` here.
    const tops = new Set(files.map((f) => f.path.split("/")[0]));
    if (tops.size !== 1) throw fail(`the tarball of ${release.version} has no single package folder`);
    const top = [...tops][0];
    // Nothing is written, let alone run, before the release's signature and files check out.
    checkRelease(
      files.map((f) => ({ path: f.path.slice(top.length + 1), data: f.data })),
      { packageName: opts.packageName, version: release.version, trustedKeys: opts.releaseKeys },
    );
    await writeTarFiles(
      files.map((f) => ({ ...f, path: `package/${f.path.slice(top.length + 1)}` })),
      staging,
    );
    const manifest = await readJson(`${staging}/package/package.json`);
    if (manifest?.version !== release.version) {
      throw fail(`the tarball's package.json says version ${manifest?.version}, not ${release.version}`);
    }
    if (!(await exists(`${staging}/package/cli/main.ts`))) {
      throw fail(`the tarball of ${release.version} has no cli/main.ts`);
    }
    await linkDependencies(`${staging}/package`, opts, release.version);
    await verifyVersion(`${staging}/package`, release.version, opts);
    await Deno.remove(dest, { recursive: true }).catch(() => {});
    await Deno.rename(staging, dest);
    await Deno.writeTextFile(`${dest}/.verified`, new Date().toISOString() + "\n");
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
  return { version: release.version, root };
}

/** Points `$INFERNET_HOME/current` at an installed version, atomically. */
export async function switchCurrent(home: string, installed: InstalledVersion): Promise<void> {
  const tmp = `${home}/.current.${crypto.randomUUID().slice(0, 8)}`;
  const target = installed.root.startsWith(`${home}/`)
    ? installed.root.slice(home.length + 1)
    : installed.root;
  try {
    await makeSymlink(target, tmp);
    await Deno.rename(tmp, `${home}/current`);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw fail(`cannot switch ${home}/current: ${(err as Error).message}`, err);
  }
}

/** The version `current` points at, or null. */
export async function currentVersion(home: string): Promise<string | null> {
  const manifest = await readJson(`${home}/current/package.json`);
  return typeof manifest?.version === "string" ? manifest.version : null;
}
