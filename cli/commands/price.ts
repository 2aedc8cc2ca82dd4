// `infernet price set|show`: what this node asks per 1,000 tokens (prompt and completion), as a
// default and per model, checked against the published bounds of its VRAM tier before it is saved.
import { formatUsd, PRICE_BOUNDS, type VramTier } from "../../shared/mod.ts";
import { CliError } from "../cli_error.ts";
import {
  MODEL_ID,
  type ModelPrice,
  type NodeConfig,
  parseUrlFlag,
  parseUsdNano,
  writeNodeConfig,
} from "../config.ts";
import { detectEngine } from "../engines/detect.ts";
import { detectHardware } from "../hardware/detect.ts";
import { loadIdentity } from "../identity/node_key.ts";
import { buildAdvert, modelPrice, type PriceSource } from "../node_advert.ts";
import { registerNode } from "../daemon/node_daemon.ts";
import { type CommandContext, loadNodeConfig, requireEngine } from "./context.ts";
import { parseFlags } from "./flags.ts";
import { formatTable } from "./table.ts";

const USAGE = "usage: infernet price set --prompt USD --completion USD [--model ID] | price show " +
  "(USD per 1,000 tokens, e.g. 0.0002)";

/** The bounds a price is checked against, and where they came from. */
interface Bounds {
  minPer1k: number;
  maxPer1k: number;
  feeBps: number | null;
  /** "server" when the control plane published them, else this CLI's built-in copy. */
  source: "server" | "local";
  /** Why the local copy was used, when it was. */
  note: string | null;
}

/** Runs `infernet price …`. */
export async function runPrice(ctx: CommandContext): Promise<void> {
  const [sub, ...rest] = ctx.args;
  const common = {
    server: { type: "string" },
    "engine-url": { type: "string" },
    json: { type: "boolean" },
  } as const;
  if (sub === "set") {
    const f = parseFlags("price set", rest, {
      ...common,
      prompt: { type: "string" },
      completion: { type: "string" },
      model: { type: "string" },
    });
    if (f.prompt === undefined || f.completion === undefined) {
      throw new CliError("usage", "price set needs --prompt USD and --completion USD (per 1,000 tokens)");
    }
    const price = {
      promptPer1k: usdFlag("prompt", f.prompt),
      completionPer1k: usdFlag("completion", f.completion),
    };
    if (f.model !== undefined && !MODEL_ID.test(f.model)) {
      throw new CliError("usage", `--model must be a model id as the engine names it, got '${f.model}'`);
    }
    return await setPrice(ctx, { ...f, price });
  }
  if (sub === "show") {
    const f = parseFlags("price show", rest, common);
    return await showPrices(ctx, f);
  }
  throw new CliError("usage", USAGE);
}

function usdFlag(name: string, value: string): number {
  const nano = parseUsdNano(value.trim());
  if (nano === null) {
    throw new CliError(
      "usage",
      `--${name} must be USD per 1,000 tokens as a plain decimal with at most 9 decimals (e.g. 0.0002), got '${value}'`,
    );
  }
  return nano;
}

function serverOf(flag: string | undefined, config: NodeConfig, env: CommandContext["env"]): string | null {
  if (flag) return parseUrlFlag("server", flag);
  if (config.server) return config.server;
  return env.INFERNET_SERVER ? parseUrlFlag("server", env.INFERNET_SERVER) : null;
}

/** The tier's bounds from `GET /api/pricing`, else the built-in copy with the reason. */
async function fetchBounds(server: string | null, tier: VramTier): Promise<Bounds> {
  const local = (note: string): Bounds => ({ ...PRICE_BOUNDS[tier], feeBps: null, source: "local", note });
  if (!server) return local("no control plane configured; checked against this CLI's built-in bounds");
  let body: unknown;
  try {
    const res = await fetch(`${server}/api/pricing`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status}`);
    }
    body = await res.json();
  } catch (err) {
    return local(
      `cannot reach ${server} (${(err as Error).message}); checked against this CLI's built-in bounds`,
    );
  }
  const b =
    (body as { price_bounds?: Record<string, { min_per_1k_usd?: unknown; max_per_1k_usd?: unknown }> })
      ?.price_bounds?.[tier];
  const min = typeof b?.min_per_1k_usd === "string" ? parseUsdNano(b.min_per_1k_usd) : null;
  const max = typeof b?.max_per_1k_usd === "string" ? parseUsdNano(b.max_per_1k_usd) : null;
  if (min === null || max === null) {
    return local(
      `${server}/api/pricing has no bounds for the ${tier} tier; checked against this CLI's built-in bounds`,
    );
  }
  const fee = (body as { fee_bps?: unknown }).fee_bps;
  const feeBps = Number.isSafeInteger(fee) && (fee as number) >= 0 && (fee as number) <= 10_000
    ? fee as number
    : null;
  return { minPer1k: min, maxPer1k: max, feeBps, source: "server", note: null };
}

function boundsText(b: Bounds, tier: VramTier, server: string | null): string {
  const from = b.source === "server" ? `published by ${server}` : "built into this CLI";
  return `the ${tier} tier's bounds ${formatUsd(b.minPer1k)}–${
    formatUsd(b.maxPer1k)
  } USD per 1k tokens (${from})`;
}

async function setPrice(
  ctx: CommandContext,
  f: { server?: string; "engine-url"?: string; json?: boolean; model?: string; price: ModelPrice },
): Promise<void> {
  const { home, config } = await loadNodeConfig(ctx);
  const server = serverOf(f.server, config, ctx.env);
  const hw = await detectHardware();
  const bounds = await fetchBounds(server, hw.vramTier);
  for (
    const [what, per1k] of [["prompt", f.price.promptPer1k], ["completion", f.price.completionPer1k]] as const
  ) {
    if (per1k < bounds.minPer1k || per1k > bounds.maxPer1k) {
      throw new CliError(
        "usage",
        `${what} price ${formatUsd(per1k)} USD per 1k tokens is outside ${
          boundsText(bounds, hw.vramTier, server)
        }; nothing saved`,
      );
    }
  }
  const prices = config.prices ?? { default: null, models: {} };
  const next: NodeConfig = {
    ...config,
    prices: f.model === undefined
      ? { ...prices, default: f.price }
      : { ...prices, models: Object.fromEntries([...Object.entries(prices.models), [f.model, f.price]]) },
  };
  await writeNodeConfig(home, next);
  const announced = await announce(home, next, server, bounds, f["engine-url"], hw);
  const target = f.model === undefined ? "default (all models without their own price)" : `model ${f.model}`;
  if (f.json) {
    ctx.print(JSON.stringify({
      model: f.model ?? null,
      ...priceJson(f.price),
      vram_tier: hw.vramTier,
      bounds: boundsJson(bounds),
      registration: announced,
    }));
    return;
  }
  ctx.print(
    `saved: ${target}: prompt $${formatUsd(f.price.promptPer1k)}, completion $${
      formatUsd(f.price.completionPer1k)
    } per 1k tokens`,
  );
  ctx.print(`within ${boundsText(bounds, hw.vramTier, server)}`);
  if (bounds.note) ctx.print(bounds.note);
  ctx.print(announced.message);
}

type Announcement = { status: "updated" | "not_registered" | "failed" | "skipped"; message: string };

/** Re-registers a registered node right away so the network sees the new price. */
async function announce(
  home: string,
  config: NodeConfig,
  server: string | null,
  bounds: Bounds,
  engineFlag: string | undefined,
  hw: Awaited<ReturnType<typeof detectHardware>>,
): Promise<Announcement> {
  const daemon = "a running `infernet start` keeps its old prices until it is restarted or sent SIGHUP";
  if (!server) {
    return {
      status: "skipped",
      message: "no control plane configured; the price is announced at registration",
    };
  }
  if (bounds.source !== "server") {
    return { status: "skipped", message: `not announced: ${server} is unreachable; ${daemon}` };
  }
  try {
    const identity = await loadIdentity(home);
    const res = await fetch(`${server}/api/nodes/${identity.pubkey}`, { signal: AbortSignal.timeout(5000) });
    await res.body?.cancel();
    if (res.status === 404) {
      return {
        status: "not_registered",
        message:
          `not registered with ${server} yet; the price is announced by \`infernet register\` or \`infernet start\``,
      };
    }
    if (!res.ok) throw new CliError("server_refused", `${server} answered HTTP ${res.status}`);
    const engine = await requireEngine(engineFlag, config);
    await registerNode(server, identity, buildAdvert(identity, hw, engine, config));
    return {
      status: "updated",
      message: `re-registered with ${server}: the network sees the new price; ${daemon}`,
    };
  } catch (err) {
    return {
      status: "failed",
      message: `saved, but not announced (${
        (err as Error).message
      }); run \`infernet register\` to announce it`,
    };
  }
}

function priceJson(p: ModelPrice) {
  return {
    prompt_per_1k_usd: formatUsd(p.promptPer1k),
    completion_per_1k_usd: formatUsd(p.completionPer1k),
    prompt_per_1m_usd: formatUsd(BigInt(p.promptPer1k) * 1000n),
    completion_per_1m_usd: formatUsd(BigInt(p.completionPer1k) * 1000n),
  };
}

function boundsJson(b: Bounds) {
  return {
    min_per_1k_usd: formatUsd(b.minPer1k),
    max_per_1k_usd: formatUsd(b.maxPer1k),
    source: b.source,
    note: b.note,
  };
}

const SOURCE_TEXT: Record<PriceSource, string> = {
  model: "override",
  default: "node default",
  "built-in": "built-in default",
};

async function showPrices(
  ctx: CommandContext,
  f: { server?: string; "engine-url"?: string; json?: boolean },
): Promise<void> {
  const { config } = await loadNodeConfig(ctx);
  const server = serverOf(f.server, config, ctx.env);
  const engineUrl = f["engine-url"]
    ? parseUrlFlag("engine-url", f["engine-url"])
    : config.engineUrl ?? undefined;
  const [hw, engine] = await Promise.all([detectHardware(), detectEngine({ engineUrl })]);
  const bounds = await fetchBounds(server, hw.vramTier);
  const ids = new Set([
    ...Object.keys(config.prices?.models ?? {}),
    ...(engine?.models.map((m) => m.id) ?? []),
  ]);
  const def = modelPrice({ default: config.prices?.default ?? null, models: {} }, "");
  const models = [...ids].sort().map((id) => {
    const p = modelPrice(config.prices, id);
    return {
      id,
      ...priceJson(p),
      source: p.source,
      served: engine?.models.some((m) => m.id === id) ?? false,
    };
  });
  if (f.json) {
    ctx.print(JSON.stringify({
      vram_tier: hw.vramTier,
      server,
      default: { ...priceJson(def), source: def.source },
      models,
      bounds: boundsJson(bounds),
      fee_bps: bounds.feeBps,
    }));
    return;
  }
  const rows = [["MODEL", "PROMPT /1K", "COMPLETION /1K", "PROMPT /1M", "COMPLETION /1M", "FROM"]];
  const row = (id: string, p: ReturnType<typeof priceJson>, source: PriceSource) =>
    rows.push([
      id,
      `$${p.prompt_per_1k_usd}`,
      `$${p.completion_per_1k_usd}`,
      `$${p.prompt_per_1m_usd}`,
      `$${p.completion_per_1m_usd}`,
      SOURCE_TEXT[source],
    ]);
  row("(default)", priceJson(def), def.source);
  for (const m of models) row(m.served ? m.id : `${m.id} (not served)`, m, m.source);
  for (const line of formatTable(rows)) ctx.print(line);
  ctx.print(`bounds: ${boundsText(bounds, hw.vramTier, server)}`);
  if (bounds.note) ctx.print(bounds.note);
  if (bounds.feeBps !== null) {
    ctx.print(`platform fee: ${bounds.feeBps / 100} % of each job's cost; you get the rest`);
  }
}
