// The Hugging Face Hub, as `huggingface_hub` and huggingface.js use it: the repo listing
// `GET {endpoint}/api/models/{repo}?blobs=true` (siblings with size and LFS sha256), or the tree
// listing `GET {endpoint}/api/models/{repo}/tree/main?recursive=true`, and downloads from
// `{endpoint}/{repo}/resolve/main/{file}` (a redirect to the CDN for LFS files). Errors carry
// `X-Error-Code` (RepoNotFound, GatedRepo, EntryNotFound, RevisionNotFound) and
// `X-Error-Message`; an unknown repo answers 401 without a token, so private and missing look alike.
import { CliError } from "../cli_error.ts";
import type { RepoFile } from "./quant.ts";
import { isRecord } from "../../shared/mod.ts";

/** The default hub; `HF_ENDPOINT` overrides it (mirrors, enterprise hubs, tests). */
export const DEFAULT_HF_ENDPOINT = "https://huggingface.co";

/** How to reach the hub: endpoint, optional token (`HF_TOKEN`), and the fetch to use. */
export interface HubOptions {
  endpoint: string;
  token?: string;
  fetch?: typeof fetch;
}

/** `hf:org/repo[:file]` parsed. */
export interface HubModelRef {
  repo: string;
  file: string | null;
}

/** A repo listing: its files and whether it is gated (needs accepting terms and a token). */
export interface RepoListing {
  repo: string;
  gated: boolean;
  files: RepoFile[];
}

const REPO_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Parses `hf:org/repo[:path/in/repo.gguf]`; null when the name is not an `hf:` name. */
export function parseHubRef(name: string): HubModelRef | null {
  if (!name.startsWith("hf:")) return null;
  const rest = name.slice(3);
  const colon = rest.indexOf(":");
  const repo = colon < 0 ? rest : rest.slice(0, colon);
  const file = colon < 0 ? null : rest.slice(colon + 1);
  if (!REPO_RE.test(repo) || repo.includes("..")) {
    throw new CliError("usage", `'${name}' is not a Hugging Face name: use hf:org/repo or hf:org/repo:file`);
  }
  if (
    file !== null &&
    (file === "" || file.startsWith("/") || file.split("/").some((p) => p === ".." || p === "."))
  ) {
    throw new CliError("usage", `'${name}': the file must be a path inside the repo`);
  }
  return { repo, file };
}

/** The hub endpoint from `HF_ENDPOINT`, else huggingface.co, without a trailing slash. */
export function hubEndpoint(env: Record<string, string | undefined>): string {
  return (env.HF_ENDPOINT || DEFAULT_HF_ENDPOINT).replace(/\/+$/, "");
}

/** The hub as the environment names it: `HF_ENDPOINT`, and `HF_TOKEN` (or `HUGGING_FACE_HUB_TOKEN`). */
export function hubOptionsFromEnv(env: Record<string, string | undefined>): HubOptions {
  return { endpoint: hubEndpoint(env), token: env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined };
}

/** The headers every hub request carries. */
export function hubHeaders(opts: HubOptions): Record<string, string> {
  return opts.token ? { authorization: `Bearer ${opts.token}` } : {};
}

function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

/** The download URL of a file at the main revision. */
export function resolveUrl(opts: HubOptions, repo: string, path: string): string {
  return `${opts.endpoint}/${repo}/resolve/main/${encodePath(path)}`;
}

/** The error for a gated repo asked for without a token. */
export function gatedRepoError(repo: string): CliError {
  return new CliError(
    "hub_unauthorized",
    `${repo} is a gated repo: accept its terms on the hub, then set HF_TOKEN to a token of that account`,
  );
}

/** Turns a failed hub response into the one-line error an operator can act on. */
export async function hubError(res: Response, repo: string, what: string): Promise<CliError> {
  const code = res.headers.get("x-error-code") ?? "";
  const serverMessage = res.headers.get("x-error-message") ?? "";
  await res.body?.cancel().catch(() => {});
  if (code === "GatedRepo") {
    if (res.status === 401) return gatedRepoError(repo);
    return new CliError(
      "hub_unauthorized",
      `${repo} is gated and HF_TOKEN's account has no access yet: accept its terms on the hub page`,
    );
  }
  if (res.status === 401 || res.status === 403) {
    return new CliError(
      "hub_unauthorized",
      `${repo}: not found or not accessible (HTTP ${res.status}); check the name, and set HF_TOKEN for private or gated repos`,
    );
  }
  if (res.status === 404) {
    return new CliError(
      "model_not_found",
      code === "EntryNotFound" ? `${what} is not in ${repo}` : `${repo} was not found on the hub`,
    );
  }
  const detail = serverMessage ? `: ${serverMessage}` : "";
  return new CliError("hub_error", `the hub answered HTTP ${res.status} for ${what}${detail}`);
}

function sha256Of(lfs: unknown): string | null {
  if (!isRecord(lfs)) return null;
  const hash = lfs.sha256 ?? lfs.oid;
  return typeof hash === "string" && /^[0-9a-f]{64}$/i.test(hash) ? hash.toLowerCase() : null;
}

function fileOf(entry: unknown): RepoFile | null {
  if (!isRecord(entry)) return null;
  // `siblings` entries name the file `rfilename`; tree entries `path` (with `type: "file"`).
  const path = typeof entry.rfilename === "string" ? entry.rfilename : entry.path;
  if (typeof path !== "string" || path === "" || (entry.type !== undefined && entry.type !== "file")) {
    return null;
  }
  const lfs = isRecord(entry.lfs) ? entry.lfs : null;
  const size = Number.isSafeInteger(lfs?.size) ? lfs!.size as number : entry.size;
  if (!Number.isSafeInteger(size) || (size as number) < 0) return null;
  return { path, size: size as number, sha256: sha256Of(lfs) };
}

/** Parses a repo listing: a model-info body (`siblings`) or a tree listing (an array). */
export function parseRepoListing(repo: string, body: unknown): RepoListing {
  const entries = Array.isArray(body)
    ? body
    : isRecord(body) && Array.isArray(body.siblings)
    ? body.siblings
    : null;
  if (entries === null) {
    throw new CliError("hub_error", `the hub's listing of ${repo} is not one it documents`);
  }
  const gated = isRecord(body) && body.gated !== undefined && body.gated !== false;
  return { repo, gated, files: entries.map(fileOf).filter((f): f is RepoFile => f !== null) };
}

/** Lists a repo's files with sizes and LFS hashes. */
export async function fetchRepoListing(opts: HubOptions, repo: string): Promise<RepoListing> {
  const fetchFn = opts.fetch ?? fetch;
  const url = `${opts.endpoint}/api/models/${repo}?blobs=true`;
  let res: Response;
  try {
    res = await fetchFn(url, { headers: { ...hubHeaders(opts), accept: "application/json" } });
  } catch (err) {
    throw new CliError("hub_error", `cannot reach the hub at ${opts.endpoint}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!res.ok) throw await hubError(res, repo, repo);
  let body: unknown;
  try {
    body = await res.json();
  } catch (err) {
    throw new CliError("hub_error", `the hub's listing of ${repo} is not JSON`, { cause: err });
  }
  return parseRepoListing(repo, body);
}
