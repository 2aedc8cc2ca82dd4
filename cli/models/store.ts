// The node's downloaded models: `$INFERNET_HOME/models/<org>/<repo>/<file>`, each with a sidecar
// `<file>.infernet.json` recording where it came from and its verified sha256. A download in
// progress is `<file>.part` (see download.ts).
import { parseQuant } from "./quant.ts";

/** Suffix of the sidecar written beside each verified file. */
export const META_SUFFIX = ".infernet.json";
/** Suffix of a download in progress. */
export const PART_SUFFIX = ".part";

/** What the sidecar records. */
export interface ModelMeta {
  repo: string;
  file: string;
  sha256: string;
  size: number;
  pulledAt: string;
  endpoint: string;
}

/** A model file on disk (or a partial download of one). */
export interface LocalModel {
  /** `org/repo/path/in/repo.gguf` */
  name: string;
  /** `hf:org/repo:path/in/repo.gguf`, the name `model pull` takes. */
  ref: string;
  repo: string;
  file: string;
  path: string;
  bytes: number;
  sha256: string | null;
  quant: string | null;
  pulledAt: string | null;
  partial: boolean;
}

/** The folder holding the node's models. */
export function modelsDir(home: string): string {
  return `${home}/models`;
}

/** Where a repo's file is stored. */
export function modelPath(home: string, repo: string, file: string): string {
  return `${modelsDir(home)}/${repo}/${file}`;
}

/** Records a verified download beside it. */
export async function writeModelMeta(path: string, meta: ModelMeta): Promise<void> {
  const wire = {
    repo: meta.repo,
    file: meta.file,
    sha256: meta.sha256,
    size: meta.size,
    pulled_at: meta.pulledAt,
    endpoint: meta.endpoint,
  };
  await Deno.writeTextFile(`${path}${META_SUFFIX}`, JSON.stringify(wire, null, 2) + "\n");
}

async function readMeta(path: string): Promise<{ sha256: string | null; pulledAt: string | null }> {
  try {
    const raw = JSON.parse(await Deno.readTextFile(`${path}${META_SUFFIX}`));
    return {
      sha256: typeof raw?.sha256 === "string" ? raw.sha256 : null,
      pulledAt: typeof raw?.pulled_at === "string" ? raw.pulled_at : null,
    };
  } catch {
    return { sha256: null, pulledAt: null };
  }
}

async function* walkFiles(dir: string, rel = ""): AsyncGenerator<string> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const relPath = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) yield* walkFiles(`${dir}/${e.name}`, relPath);
    else if (e.isFile) yield relPath;
  }
}

/** Lists the models on disk, partial downloads included, sorted by name. */
export async function listLocalModels(home: string): Promise<LocalModel[]> {
  const root = modelsDir(home);
  const out: LocalModel[] = [];
  for await (const rel of walkFiles(root)) {
    if (rel.endsWith(META_SUFFIX)) continue;
    const parts = rel.split("/");
    if (parts.length < 3) continue;
    const partial = rel.endsWith(PART_SUFFIX);
    const name = partial ? rel.slice(0, -PART_SUFFIX.length) : rel;
    const repo = parts.slice(0, 2).join("/");
    const file = name.split("/").slice(2).join("/");
    const path = `${root}/${rel}`;
    const meta = partial ? { sha256: null, pulledAt: null } : await readMeta(path);
    out.push({
      name,
      ref: `hf:${repo}:${file}`,
      repo,
      file,
      path,
      bytes: (await Deno.stat(path)).size,
      sha256: meta.sha256,
      quant: parseQuant(file),
      pulledAt: meta.pulledAt,
      partial,
    });
  }
  return out;
}

/**
 * The local models a name means: `hf:org/repo:file`, `org/repo/file` or the file's own name
 * (one file), or `hf:org/repo` / `org/repo` (every file of the repo).
 */
export function findLocalModels(models: readonly LocalModel[], name: string): LocalModel[] {
  const bare = name.startsWith("hf:") ? name.slice(3) : name;
  const exact = models.filter((m) =>
    m.ref === name || m.name === name || `${m.repo}:${m.file}` === bare || m.file === name
  );
  if (exact.length > 0) return exact;
  const byRepo = models.filter((m) => m.repo === bare);
  if (byRepo.length > 0) return byRepo;
  return models.filter((m) => m.file.split("/").pop() === name);
}

/** Deletes a model file with its sidecar and part, then any folders left empty. */
export async function removeLocalModel(home: string, model: LocalModel): Promise<void> {
  const base = model.partial ? model.path.slice(0, -PART_SUFFIX.length) : model.path;
  for (const path of [base, `${base}${META_SUFFIX}`, `${base}${PART_SUFFIX}`]) {
    await Deno.remove(path).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
  }
  const root = modelsDir(home);
  let dir = base.slice(0, base.lastIndexOf("/"));
  while (dir.startsWith(`${root}/`)) {
    try {
      await Deno.remove(dir); // only succeeds on an empty folder
    } catch {
      break;
    }
    dir = dir.slice(0, dir.lastIndexOf("/"));
  }
}

/** A local model as `infernet model list|info --json` print it (snake_case, as the wire does). */
export function localModelJson(m: LocalModel) {
  return {
    name: m.name,
    ref: m.ref,
    repo: m.repo,
    file: m.file,
    path: m.path,
    bytes: m.bytes,
    sha256: m.sha256,
    quant: m.quant,
    pulled_at: m.pulledAt,
    partial: m.partial,
  };
}
