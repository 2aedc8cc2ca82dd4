// The operator's configuration: `$INFERNET_HOME/config.json`, environment and flags, merged once.
import { CliError } from "./cli_error.ts";

/** The node's settings as stored in `config.json`. */
export interface NodeConfig {
  server: string | null;
  nodeId: string | null;
  engineUrl: string | null;
  maxConcurrency: number;
}

const DEFAULTS: NodeConfig = { server: null, nodeId: null, engineUrl: null, maxConcurrency: 8 };

/**
 * Where the node keeps its key and config: `$INFERNET_HOME`, else `~/.config/infernet`. An
 * environment variable rather than a flag, because the file permissions are scoped to it.
 */
export function resolveHome(env: Record<string, string | undefined>): string {
  if (env.INFERNET_HOME) return env.INFERNET_HOME;
  if (!env.HOME) throw new CliError("config", "cannot find a home folder: set INFERNET_HOME or HOME");
  return `${env.HOME}/.config/infernet`;
}

function isUrl(x: unknown): x is string {
  if (typeof x !== "string") return false;
  try {
    return ["http:", "https:"].includes(new URL(x).protocol);
  } catch {
    return false;
  }
}

/** Reads `config.json` (absent means defaults); a malformed file is an error, never ignored. */
export async function readNodeConfig(home: string): Promise<NodeConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${home}/config.json`);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { ...DEFAULTS };
    throw new CliError("config", `cannot read ${home}/config.json: ${(err as Error).message}`);
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new CliError("config", `${home}/config.json is not valid JSON; fix or delete it`);
  }
  const cfg = { ...DEFAULTS };
  if (raw.server != null) {
    if (!isUrl(raw.server)) throw new CliError("config", `config.json: server must be an http(s) URL`);
    cfg.server = raw.server.replace(/\/+$/, "");
  }
  if (raw.engine_url != null) {
    if (!isUrl(raw.engine_url)) {
      throw new CliError("config", `config.json: engine_url must be an http(s) URL`);
    }
    cfg.engineUrl = raw.engine_url.replace(/\/+$/, "");
  }
  if (raw.node_id != null) {
    if (typeof raw.node_id !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(raw.node_id)) {
      throw new CliError("config", "config.json: node_id must be 1–64 letters, digits, '.', '_' or '-'");
    }
    cfg.nodeId = raw.node_id;
  }
  if (raw.max_concurrency != null) {
    if (!Number.isSafeInteger(raw.max_concurrency) || (raw.max_concurrency as number) < 1) {
      throw new CliError("config", "config.json: max_concurrency must be a positive integer");
    }
    cfg.maxConcurrency = raw.max_concurrency as number;
  }
  return cfg;
}

/** Writes `config.json` (only the fields that are set). */
export async function writeNodeConfig(home: string, cfg: NodeConfig): Promise<void> {
  const out: Record<string, unknown> = {};
  if (cfg.server) out.server = cfg.server;
  if (cfg.nodeId) out.node_id = cfg.nodeId;
  if (cfg.engineUrl) out.engine_url = cfg.engineUrl;
  if (cfg.maxConcurrency !== DEFAULTS.maxConcurrency) out.max_concurrency = cfg.maxConcurrency;
  await Deno.writeTextFile(`${home}/config.json`, JSON.stringify(out, null, 2) + "\n", { mode: 0o600 });
}

/** Checks a URL given on the command line. */
export function parseUrlFlag(name: string, value: string): string {
  if (!isUrl(value)) throw new CliError("usage", `--${name} must be an http(s) URL, got '${value}'`);
  return value.replace(/\/+$/, "");
}
