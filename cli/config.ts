// The operator's configuration: `$INFERNET_HOME/config.json`, environment and flags, merged once.
import { formatUsd, isRecord, parseDecimal } from "../shared/mod.ts";
import { CliError } from "./cli_error.ts";
import { isRelayUrl } from "../shared/relay/mod.ts";
import { parseUpgradeConfig, type UpgradeConfig, upgradeConfigJson } from "./upgrade/upgrade_config.ts";

/** The node's settings as stored in `config.json`. */
export interface NodeConfig {
  /** The control plane (the first of `servers` when there are several). */
  server: string | null;
  /**
   * Several control-plane instances (`server` in config.json as a list, or comma-separated): the
   * daemon connects to one and re-homes to the next when it dies. Absent with one server.
   */
  servers?: string[];
  nodeId: string | null;
  engineUrl: string | null;
  /** A GGUF file the built-in engine serves when no engine runs (`builtin_model`; "tiny" = the generated test model). */
  builtinModel?: string | null;
  maxConcurrency: number;
  /** The operator's prices (`infernet price set`); unset ones fall back to the built-in defaults. */
  prices?: NodePrices;
  /** Auto-upgrade settings (`upgrade` in config.json; see cli/upgrade/upgrade_config.ts). */
  upgrade?: UpgradeConfig;
  /** Nostr relays the node publishes its record and offers to (`relays`: ws:// or wss:// URLs). */
  relays?: string[];
}

/** A price pair in nano-USD per 1,000 tokens. */
export interface ModelPrice {
  promptPer1k: number;
  completionPer1k: number;
}

/** The node's default price and per-model overrides (config.json: decimal USD strings per 1k). */
export interface NodePrices {
  default: ModelPrice | null;
  models: Readonly<Record<string, ModelPrice>>;
}

const DEFAULTS: NodeConfig = {
  server: null,
  nodeId: null,
  engineUrl: null,
  maxConcurrency: 8,
  prices: { default: null, models: {} },
};

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
    const list = Array.isArray(raw.server) ? raw.server : [raw.server];
    if (list.length === 0 || list.some((s) => typeof s !== "string")) {
      throw new CliError("config", "config.json: server must be an http(s) URL or a list of them");
    }
    const servers = parseServerList(list.join(","), "config.json: server");
    cfg.server = servers[0];
    if (servers.length > 1) cfg.servers = servers;
  }
  if (raw.engine_url != null) {
    if (!isUrl(raw.engine_url)) {
      throw new CliError("config", `config.json: engine_url must be an http(s) URL`);
    }
    cfg.engineUrl = raw.engine_url.replace(/\/+$/, "");
  }
  if (raw.builtin_model != null) {
    if (typeof raw.builtin_model !== "string" || raw.builtin_model === "") {
      throw new CliError("config", "config.json: builtin_model must be the path of a .gguf file");
    }
    cfg.builtinModel = raw.builtin_model;
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
  if (raw.prices != null) cfg.prices = parsePricesConfig(raw.prices);
  if (raw.upgrade != null) cfg.upgrade = parseUpgradeConfig(raw.upgrade);
  if (raw.relays != null) {
    if (!Array.isArray(raw.relays) || raw.relays.length > 32 || !raw.relays.every(isRelayUrl)) {
      throw new CliError("config", "config.json: relays must be a list of at most 32 ws:// or wss:// URLs");
    }
    cfg.relays = [...new Set(raw.relays as string[])];
  }
  return cfg;
}

/** A USD price as an operator writes it: up to 6 whole digits and 9 decimals, no sign or exponent. */
const USD_PRICE_TEXT = /^\d{1,6}(?:\.\d{1,9})?$/;

/**
 * Parses a decimal USD amount ("0.0002") into whole nano-USD, exactly, with the shared
 * `parseDecimal`; null when it is not spelled as `USD_PRICE_TEXT` says (so nothing is rounded away).
 */
export function parseUsdNano(text: string): number | null {
  return USD_PRICE_TEXT.test(text) ? Number(parseDecimal(text, 9)) : null;
}

/** A model id as the engine names it: printable ASCII, no spaces. */
export const MODEL_ID = /^[\x21-\x7e]{1,200}$/;

function parsePricePair(x: unknown, where: string): ModelPrice {
  const keys = isRecord(x) ? Object.keys(x).sort().join(",") : "";
  if (!isRecord(x) || keys !== "completion_per_1k,prompt_per_1k") {
    throw new CliError(
      "config",
      `config.json: ${where} must be {"prompt_per_1k": "<USD>", "completion_per_1k": "<USD>"}`,
    );
  }
  const nano = (v: unknown, name: string) => {
    const n = typeof v === "string" ? parseUsdNano(v) : null;
    if (n === null) {
      throw new CliError(
        "config",
        `config.json: ${where}.${name} must be a decimal USD string like "0.0002"`,
      );
    }
    return n;
  };
  return {
    promptPer1k: nano(x.prompt_per_1k, "prompt_per_1k"),
    completionPer1k: nano(x.completion_per_1k, "completion_per_1k"),
  };
}

/** Validates config.json's `prices`: `{default?: {prompt_per_1k, completion_per_1k}, models?: {<id>: {…}}}`. */
export function parsePricesConfig(raw: unknown): NodePrices {
  if (!isRecord(raw) || Object.keys(raw).some((k) => k !== "default" && k !== "models")) {
    throw new CliError("config", "config.json: prices may only hold 'default' and 'models'");
  }
  const models: [string, ModelPrice][] = [];
  if (raw.models != null) {
    if (!isRecord(raw.models)) {
      throw new CliError("config", "config.json: prices.models must be an object");
    }
    for (const [id, pair] of Object.entries(raw.models)) {
      if (!MODEL_ID.test(id)) {
        throw new CliError("config", `config.json: prices.models has a bad model id '${id}'`);
      }
      models.push([id, parsePricePair(pair, `prices.models["${id}"]`)]);
    }
  }
  return {
    default: raw.default == null ? null : parsePricePair(raw.default, "prices.default"),
    // fromEntries defines own properties, so an id like "__proto__" stays a plain key.
    models: Object.fromEntries(models),
  };
}

function pricesJson(prices: NodePrices): Record<string, unknown> | undefined {
  const pair = (p: ModelPrice) => ({
    prompt_per_1k: formatUsd(p.promptPer1k),
    completion_per_1k: formatUsd(p.completionPer1k),
  });
  const ids = Object.keys(prices.models).sort();
  if (!prices.default && ids.length === 0) return undefined;
  return {
    ...(prices.default ? { default: pair(prices.default) } : {}),
    ...(ids.length ? { models: Object.fromEntries(ids.map((id) => [id, pair(prices.models[id])])) } : {}),
  };
}

/** Writes `config.json` (only the fields that are set). */
export async function writeNodeConfig(home: string, cfg: NodeConfig): Promise<void> {
  const out: Record<string, unknown> = {};
  // A list only while it still starts with `server`: a command that sets one server (init,
  // register) replaces the list with it.
  if (cfg.servers && cfg.servers.length > 1 && cfg.servers[0] === cfg.server) out.server = cfg.servers;
  else if (cfg.server) out.server = cfg.server;
  if (cfg.nodeId) out.node_id = cfg.nodeId;
  if (cfg.engineUrl) out.engine_url = cfg.engineUrl;
  if (cfg.builtinModel) out.builtin_model = cfg.builtinModel;
  if (cfg.maxConcurrency !== DEFAULTS.maxConcurrency) out.max_concurrency = cfg.maxConcurrency;
  const prices = cfg.prices ? pricesJson(cfg.prices) : undefined;
  if (prices) out.prices = prices;
  const upgrade = cfg.upgrade ? upgradeConfigJson(cfg.upgrade) : undefined;
  if (upgrade) out.upgrade = upgrade;
  if (cfg.relays?.length) out.relays = cfg.relays;
  await Deno.writeTextFile(`${home}/config.json`, JSON.stringify(out, null, 2) + "\n", { mode: 0o600 });
}

/**
 * Control-plane URLs as written (comma-separated; `--server` may also repeat): each an http(s) URL,
 * trailing slashes dropped, duplicates removed, order kept. `where` names the source in errors.
 */
export function parseServerList(text: string, where = "--server"): string[] {
  const out: string[] = [];
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    if (!isUrl(part)) throw new CliError("usage", `${where} must be http(s) URLs, got '${part}'`);
    const url = part.replace(/\/+$/, "");
    if (!out.includes(url)) out.push(url);
  }
  if (out.length === 0) throw new CliError("usage", `${where} names no control plane`);
  return out;
}

/**
 * The control planes `infernet start` uses: `--server` (repeated or comma-separated), else the
 * config's, else `INFERNET_SERVER` (comma-separated).
 */
export function resolveServers(
  flags: string[] | undefined,
  config: NodeConfig,
  env: Record<string, string | undefined>,
): string[] {
  if (flags?.length) return parseServerList(flags.join(","));
  if (config.servers?.length) return config.servers;
  if (config.server) return [config.server];
  if (env.INFERNET_SERVER) return parseServerList(env.INFERNET_SERVER, "INFERNET_SERVER");
  throw new CliError("config", "no control plane configured: pass --server URL (it is then remembered)");
}

/** Checks a URL given on the command line. */
export function parseUrlFlag(name: string, value: string): string {
  if (!isUrl(value)) throw new CliError("usage", `--${name} must be an http(s) URL, got '${value}'`);
  return value.replace(/\/+$/, "");
}

/** Checks a `--relay` URL given on the command line. */
export function parseRelayFlag(value: string): string {
  if (!isRelayUrl(value)) {
    throw new CliError("usage", `--relay must be a ws:// or wss:// URL, got '${value}'`);
  }
  return value;
}
