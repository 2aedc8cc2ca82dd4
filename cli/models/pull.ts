// `model pull hf:org/repo[:file]`: list the repo, choose the files (the one named, the quant asked
// for, or the best quant that fits the node — see quant.ts), check the disk, then download each
// file resumably and record it in the store.
import { CliError } from "../cli_error.ts";
import { DISK_RESERVE_BYTES, type DiskSpace, systemDiskSpace } from "./disk_space.ts";
import { downloadFile, type DownloadProgress } from "./download.ts";
import {
  fetchRepoListing,
  gatedRepoError,
  hubError,
  hubHeaders,
  type HubModelRef,
  type HubOptions,
  resolveUrl,
} from "./hub.ts";
import {
  formatBytes,
  type GgufVariant,
  groupGgufVariants,
  type MemoryBudget,
  type NodeMemory,
  pickVariant,
  quantQuality,
  type RepoFile,
} from "./quant.ts";
import { modelPath, modelsDir, writeModelMeta } from "./store.ts";

/** Reports one file's transfer; `start` is called before it, `finish` after. */
export interface PullReporter {
  start(label: string): { update(p: DownloadProgress): void; finish(outcome: "done" | "stopped"): void };
  warn(message: string): void;
}

/** What `pullFromHub` needs; disk space, fetch and the signal can be swapped in tests. */
export interface HubPullOptions {
  home: string;
  hub: HubOptions;
  ref: HubModelRef;
  memory: NodeMemory;
  /** Pick this quant instead of the best that fits. */
  quant?: string;
  diskSpace?: DiskSpace;
  reporter?: PullReporter;
  signal?: AbortSignal;
  retries?: number;
  retryDelayMs?: number;
}

/** One file of a finished pull. */
export interface PulledFile {
  file: string;
  path: string;
  bytes: number;
  sha256: string;
  resumedFromBytes: number;
  /** True when the file was already on disk with the hub's hash. */
  alreadyPresent: boolean;
}

/** A finished pull. */
export interface HubPullResult {
  repo: string;
  quant: string | null;
  pickedBy: "file" | "quant" | "memory";
  budget: MemoryBudget;
  files: PulledFile[];
  totalBytes: number;
}

const silentReporter: PullReporter = {
  start: () => ({ update() {}, finish() {} }),
  warn() {},
};

function describeVariants(variants: GgufVariant[]): string {
  return variants
    .filter((v) => v.quant)
    .sort((a, b) => quantQuality(b.quant) - quantQuality(a.quant))
    .map((v) => `${v.quant} ${formatBytes(v.totalBytes)}`)
    .join(", ");
}

/** Chooses the files to download and says why; throws a one-line CliError when nothing fits. */
export function chooseFiles(
  repo: string,
  files: RepoFile[],
  opts: { file: string | null; quant?: string; memory: NodeMemory },
): { variant: GgufVariant; pickedBy: HubPullResult["pickedBy"]; budget: MemoryBudget } {
  const variants = groupGgufVariants(files);
  const { budget, variant: best } = pickVariant(variants, opts.memory);
  if (opts.file !== null) {
    const named = variants.find((v) => v.files.some((f) => f.path === opts.file));
    if (named) return { variant: named, pickedBy: "file", budget };
    const plain = files.find((f) => f.path === opts.file);
    if (plain) {
      const variant = { quant: null, name: plain.path, files: [plain], totalBytes: plain.size };
      return { variant, pickedBy: "file", budget };
    }
    throw new CliError("model_not_found", `${opts.file} is not in ${repo}`);
  }
  if (variants.length === 0) {
    throw new CliError("model_not_found", `${repo} has no GGUF files; name a file with hf:${repo}:<file>`);
  }
  if (opts.quant) {
    const want = opts.quant.toUpperCase();
    const match = variants
      .filter((v) => v.quant === want)
      .sort((a, b) => a.totalBytes - b.totalBytes)[0];
    if (!match) {
      throw new CliError(
        "model_not_found",
        `${repo} has no ${want} file; it has ${describeVariants(variants)}`,
      );
    }
    return { variant: match, pickedBy: "quant", budget };
  }
  if (!best) {
    const where = budget.kind === "vram" ? "VRAM" : "RAM (no GPU found)";
    throw new CliError(
      "no_fitting_quant",
      `no quant of ${repo} fits ${formatBytes(budget.bytes)} of usable ${where}; it has ${
        describeVariants(variants)
      } — pass --quant or hf:${repo}:<file> to pull one anyway`,
    );
  }
  return { variant: best, pickedBy: "memory", budget };
}

async function sizeOrZero(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return 0;
  }
}

async function recordedSha(path: string): Promise<string | null> {
  try {
    const meta = JSON.parse(await Deno.readTextFile(`${path}.infernet.json`));
    return typeof meta?.sha256 === "string" ? meta.sha256 : null;
  } catch {
    return null;
  }
}

/** Pulls a model from the hub into `$INFERNET_HOME/models/<org>/<repo>/`. */
export async function pullFromHub(opts: HubPullOptions): Promise<HubPullResult> {
  const reporter = opts.reporter ?? silentReporter;
  const { repo } = opts.ref;
  const listing = await fetchRepoListing(opts.hub, repo);
  if (listing.gated && !opts.hub.token) throw gatedRepoError(repo);
  const { variant, pickedBy, budget } = chooseFiles(repo, listing.files, {
    file: opts.ref.file,
    quant: opts.quant,
    memory: opts.memory,
  });

  // Files already present with the hub's hash are kept; the rest need their missing bytes.
  const todo: RepoFile[] = [];
  const present: PulledFile[] = [];
  let needBytes = 0;
  for (const f of variant.files) {
    const path = modelPath(opts.home, repo, f.path);
    const sha = await recordedSha(path);
    if (sha !== null && (f.sha256 === null || sha === f.sha256) && (await sizeOrZero(path)) === f.size) {
      present.push({
        file: f.path,
        path,
        bytes: f.size,
        sha256: sha,
        resumedFromBytes: 0,
        alreadyPresent: true,
      });
      continue;
    }
    todo.push(f);
    needBytes += Math.max(0, f.size - await sizeOrZero(`${path}.part`));
  }

  const dir = modelsDir(opts.home);
  await Deno.mkdir(dir, { recursive: true });
  if (needBytes > 0) {
    const free = await (opts.diskSpace ?? systemDiskSpace).freeBytes(dir);
    if (free === null) {
      reporter.warn("cannot check free disk space here (Deno needs --allow-sys=statfs); downloading anyway");
    } else if (free < needBytes + DISK_RESERVE_BYTES) {
      throw new CliError(
        "disk_full",
        `not enough disk space in ${dir}: the download needs ${formatBytes(needBytes)} (+${
          formatBytes(DISK_RESERVE_BYTES)
        } spare), ${formatBytes(free)} is free`,
      );
    }
  }

  const pulled: PulledFile[] = [...present];
  for (const f of todo) {
    const dest = modelPath(opts.home, repo, f.path);
    await Deno.mkdir(dest.slice(0, dest.lastIndexOf("/")), { recursive: true });
    const bar = reporter.start(f.path.split("/").pop()!);
    try {
      const result = await downloadFile({
        url: resolveUrl(opts.hub, repo, f.path),
        dest,
        headers: hubHeaders(opts.hub),
        expectedSize: f.size,
        expectedSha256: f.sha256,
        onHttpError: (res) => hubError(res, repo, f.path),
        onProgress: bar.update,
        fetch: opts.hub.fetch,
        signal: opts.signal,
        retries: opts.retries,
        retryDelayMs: opts.retryDelayMs,
      });
      bar.finish("done");
      await writeModelMeta(dest, {
        repo,
        file: f.path,
        sha256: result.sha256,
        size: result.bytes,
        pulledAt: new Date().toISOString(),
        endpoint: opts.hub.endpoint,
      });
      pulled.push({
        file: f.path,
        path: dest,
        bytes: result.bytes,
        sha256: result.sha256,
        resumedFromBytes: result.resumedFromBytes,
        alreadyPresent: false,
      });
    } catch (err) {
      bar.finish("stopped");
      throw err;
    }
  }
  pulled.sort((a, b) => a.file.localeCompare(b.file));
  return { repo, quant: variant.quant, pickedBy, budget, files: pulled, totalBytes: variant.totalBytes };
}
