// `infernet model pull | list | info | remove | recommend`: the node's models, from the Hugging
// Face Hub into $INFERNET_HOME/models, or through Ollama's own API when Ollama is the engine.
import { CliError } from "../cli_error.ts";
import { type DetectedEngine, detectEngine } from "../engines/detect.ts";
import { detectHardware } from "../hardware/detect.ts";
import { recommendModels } from "../models/catalog.ts";
import { fetchRepoListing, hubEndpoint, type HubOptions, parseHubRef } from "../models/hub.ts";
import { ollamaDelete, ollamaPull } from "../models/ollama.ts";
import { ProgressBar } from "../models/progress.ts";
import { type HubPullResult, pullFromHub, type PullReporter } from "../models/pull.ts";
import {
  formatBytes,
  groupGgufVariants,
  memoryBudget,
  type NodeMemory,
  pickVariant,
  quantQuality,
} from "../models/quant.ts";
import { findLocalModels, listLocalModels, type LocalModel, removeLocalModel } from "../models/store.ts";
import { type CommandContext, loadNodeConfig } from "./context.ts";
import { parseFlags, positiveInt } from "./flags.ts";
import { parseArgs } from "node:util";

const USAGE = `usage: infernet model <command>
  pull hf:org/repo[:file] [--quant Q] [--vram-mb N] [--ram-mb N] [--retries N] [--json]
  pull <ollama-model> [--json]            (when the engine is Ollama)
  list [--json]
  info <name> [--json]
  remove <name>
  recommend [--vram-mb N] [--ram-mb N] [--json]`;

const encoder = new TextEncoder();
const stderrLine = (line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n"));

/** Runs `infernet model …`. */
export async function runModel(ctx: CommandContext): Promise<void> {
  const [sub, ...rest] = ctx.args;
  switch (sub) {
    case "pull":
      return await runPull(ctx, rest);
    case "list":
    case "ls":
      return await runList(ctx, rest);
    case "info":
      return await runInfo(ctx, rest);
    case "remove":
    case "rm":
      return await runRemove(ctx, rest);
    case "recommend":
      return await runRecommend(ctx, rest);
    default:
      throw new CliError("usage", USAGE);
  }
}

// Flags plus exactly `count` positional arguments.
function parseWithNames<O extends Parameters<typeof parseFlags>[2]>(
  command: string,
  args: string[],
  options: O,
  count: number,
) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new CliError("usage", `model ${command}: ${(err as Error).message}`);
  }
  if (parsed.positionals.length !== count) throw new CliError("usage", USAGE);
  return { flags: parsed.values, names: parsed.positionals };
}

const MEMORY_FLAGS = {
  "vram-mb": { type: "string" },
  "ram-mb": { type: "string" },
} as const;

// The node's memory as detected, with `--vram-mb` / `--ram-mb` overriding (planning for another box).
async function nodeMemory(flags: { "vram-mb"?: string; "ram-mb"?: string }): Promise<NodeMemory> {
  const vram = flags["vram-mb"] === "0" ? 0 : positiveInt("vram-mb", flags["vram-mb"]);
  const ram = positiveInt("ram-mb", flags["ram-mb"]);
  if (vram !== undefined && ram !== undefined) return { vramMb: vram, ramMb: ram };
  const hw = await detectHardware();
  return { vramMb: vram ?? hw.totalVramMb, ramMb: ram ?? hw.ramMb };
}

function hubOptions(env: Record<string, string | undefined>): HubOptions {
  return { endpoint: hubEndpoint(env), token: env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined };
}

// Ctrl-C aborts the transfer (the .part stays for the next run) instead of killing the process.
async function withInterrupt<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctrl = new AbortController();
  const onSigint = () => ctrl.abort();
  Deno.addSignalListener("SIGINT", onSigint);
  try {
    return await fn(ctrl.signal);
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
}

function barReporter(quiet: boolean): PullReporter {
  return {
    start(label) {
      if (quiet) return { update() {}, finish() {} };
      const bar = new ProgressBar(label);
      return {
        update: (p) => bar.update(p.doneBytes, p.totalBytes),
        finish: (outcome) => bar.finish(outcome),
      };
    },
    warn: (message) => stderrLine(`infernet: warning: ${message}`),
  };
}

async function findEngine(ctx: CommandContext): Promise<DetectedEngine | null> {
  const { config } = await loadNodeConfig(ctx);
  return await detectEngine({ engineUrl: config.engineUrl ?? undefined });
}

function pullJson(r: HubPullResult) {
  return {
    source: "hf",
    repo: r.repo,
    quant: r.quant,
    picked_by: r.pickedBy,
    budget_bytes: r.budget.bytes,
    budget_kind: r.budget.kind,
    total_bytes: r.totalBytes,
    files: r.files.map((f) => ({
      file: f.file,
      path: f.path,
      bytes: f.bytes,
      sha256: f.sha256,
      resumed_from_bytes: f.resumedFromBytes,
      already_present: f.alreadyPresent,
    })),
  };
}

async function runPull(ctx: CommandContext, args: string[]): Promise<void> {
  const { flags, names } = parseWithNames("pull", args, {
    ...MEMORY_FLAGS,
    quant: { type: "string" },
    retries: { type: "string" },
    json: { type: "boolean" },
  }, 1);
  const name = names[0];
  const ref = parseHubRef(name);
  const { home } = await loadNodeConfig(ctx);
  const retries = flags.retries === "0" ? 0 : positiveInt("retries", flags.retries);
  if (ref === null) return await pullThroughOllama(ctx, name, !!flags.json);
  const memory = ref.file === null && !flags.quant ? await nodeMemory(flags) : { vramMb: 0, ramMb: 0 };
  const result = await withInterrupt((signal) =>
    pullFromHub({
      home,
      hub: hubOptions(ctx.env),
      ref,
      memory,
      quant: flags.quant,
      reporter: barReporter(!!flags.json),
      signal,
      retries,
    })
  );
  if (flags.json) {
    ctx.print(JSON.stringify(pullJson(result)));
    return;
  }
  const why = result.pickedBy === "memory"
    ? ` — the best quant within ${
      formatBytes(result.budget.bytes)
    } of usable ${result.budget.kind.toUpperCase()}`
    : "";
  ctx.print(
    `pulled hf:${result.repo} ${result.quant ?? ""} (${formatBytes(result.totalBytes)})${why}`.replace(
      "  ",
      " ",
    ),
  );
  for (const f of result.files) {
    ctx.print(`  ${f.path}  sha256 ${f.sha256}${f.alreadyPresent ? "  (already present)" : ""}`);
  }
}

async function pullThroughOllama(ctx: CommandContext, model: string, json: boolean): Promise<void> {
  const engine = await findEngine(ctx);
  if (engine?.kind !== "ollama") {
    throw new CliError(
      "usage",
      `'${model}' is not a Hugging Face name and ${
        engine ? `the engine is ${engine.kind}, not Ollama` : "no Ollama engine was found"
      }: use hf:org/repo[:file]`,
    );
  }
  const bar = json ? null : new ProgressBar(model);
  await withInterrupt(async (signal) => {
    try {
      await ollamaPull({
        baseUrl: engine.baseUrl,
        model,
        signal,
        onProgress: (p) => bar?.update(p.doneBytes, p.totalBytes),
      });
      bar?.finish("done");
    } catch (err) {
      bar?.finish("stopped");
      throw err;
    }
  });
  if (json) ctx.print(JSON.stringify({ source: "ollama", model, engine_url: engine.baseUrl }));
  else ctx.print(`pulled ${model} into Ollama at ${engine.baseUrl}`);
}

function localJson(m: LocalModel) {
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

async function runList(ctx: CommandContext, args: string[]): Promise<void> {
  const flags = parseFlags("model list", args, { json: { type: "boolean" } });
  const { home } = await loadNodeConfig(ctx);
  const [local, engine] = await Promise.all([listLocalModels(home), findEngine(ctx)]);
  if (flags.json) {
    ctx.print(JSON.stringify({
      models: local.map(localJson),
      engine: engine
        ? { kind: engine.kind, url: engine.baseUrl, models: engine.models.map((m) => m.id) }
        : null,
    }));
    return;
  }
  if (local.length === 0) ctx.print(`no models downloaded in ${home}/models`);
  for (const m of local) {
    const state = m.partial
      ? "partial download"
      : m.sha256
      ? `sha256 ${m.sha256.slice(0, 12)}…`
      : "not verified";
    ctx.print(`${m.name}  ${formatBytes(m.bytes)}  ${m.quant ?? "-"}  ${state}`);
  }
  if (engine) {
    ctx.print(
      `engine ${engine.kind} at ${engine.baseUrl}: ${
        engine.models.map((m) => m.id).join(", ") || "no models"
      }`,
    );
  }
}

async function runInfo(ctx: CommandContext, args: string[]): Promise<void> {
  const { flags, names } = parseWithNames("info", args, { ...MEMORY_FLAGS, json: { type: "boolean" } }, 1);
  const name = names[0];
  const { home } = await loadNodeConfig(ctx);
  const local = findLocalModels(await listLocalModels(home), name);
  if (local.length > 0) {
    if (flags.json) {
      ctx.print(JSON.stringify({ source: "local", models: local.map(localJson) }));
      return;
    }
    for (const m of local) {
      ctx.print(`${m.ref}`);
      ctx.print(`  path:    ${m.path}${m.partial ? " (partial download; pull again to resume)" : ""}`);
      ctx.print(`  size:    ${formatBytes(m.bytes)} (${m.bytes} bytes)`);
      ctx.print(`  quant:   ${m.quant ?? "unknown"}`);
      ctx.print(`  sha256:  ${m.sha256 ?? "not recorded"}`);
      if (m.pulledAt) ctx.print(`  pulled:  ${m.pulledAt}`);
    }
    return;
  }
  const ref = parseHubRef(name);
  if (ref) return await hubInfo(ctx, ref.repo, flags);
  const engine = await findEngine(ctx);
  const served = engine?.models.find((m) => m.id === name);
  if (engine && served) {
    if (flags.json) {
      ctx.print(JSON.stringify({
        source: "engine",
        engine: engine.kind,
        url: engine.baseUrl,
        id: served.id,
        context_length: served.contextLength,
      }));
    } else {
      ctx.print(`${served.id}: served by ${engine.kind} at ${engine.baseUrl}`);
      if (served.contextLength) ctx.print(`  context: ${served.contextLength} tokens`);
    }
    return;
  }
  throw new CliError("model_not_found", `no model named '${name}' on this node (see infernet model list)`);
}

async function hubInfo(
  ctx: CommandContext,
  repo: string,
  flags: { json?: boolean; "vram-mb"?: string; "ram-mb"?: string },
): Promise<void> {
  const listing = await fetchRepoListing(hubOptions(ctx.env), repo);
  const variants = groupGgufVariants(listing.files)
    .sort((a, b) => quantQuality(b.quant) - quantQuality(a.quant) || a.totalBytes - b.totalBytes);
  const memory = await nodeMemory(flags);
  const pick = pickVariant(variants, memory);
  if (flags.json) {
    ctx.print(JSON.stringify({
      source: "hf",
      repo,
      gated: listing.gated,
      budget_bytes: pick.budget.bytes,
      budget_kind: pick.budget.kind,
      pick: pick.variant?.name ?? null,
      variants: variants.map((v) => ({
        name: v.name,
        quant: v.quant,
        bytes: v.totalBytes,
        files: v.files.map((f) => f.path),
        fits: v.totalBytes <= pick.budget.bytes,
      })),
    }));
    return;
  }
  ctx.print(`hf:${repo}${listing.gated ? " (gated: needs HF_TOKEN and accepted terms)" : ""}`);
  ctx.print(`  usable ${pick.budget.kind.toUpperCase()} on this node: ${formatBytes(pick.budget.bytes)}`);
  for (const v of variants) {
    const mark = v === pick.variant ? "*" : v.totalBytes <= pick.budget.bytes ? "+" : " ";
    const parts = v.files.length > 1 ? ` (${v.files.length} parts)` : "";
    ctx.print(
      ` ${mark} ${(v.quant ?? "-").padEnd(8)} ${formatBytes(v.totalBytes).padStart(9)}  ${v.name}${parts}`,
    );
  }
  ctx.print(
    pick.variant ? "  * would be pulled, + also fits" : "  nothing fits; pass --quant or name a file",
  );
}

async function runRemove(ctx: CommandContext, args: string[]): Promise<void> {
  const { names } = parseWithNames("remove", args, {}, 1);
  const name = names[0];
  const { home } = await loadNodeConfig(ctx);
  const local = findLocalModels(await listLocalModels(home), name);
  if (local.length > 0) {
    for (const m of local) {
      await removeLocalModel(home, m);
      ctx.print(`removed ${m.path}${m.partial ? " (partial download)" : ""} (${formatBytes(m.bytes)})`);
    }
    return;
  }
  if (!name.startsWith("hf:")) {
    const engine = await findEngine(ctx);
    if (engine?.kind === "ollama" && engine.models.some((m) => m.id === name)) {
      if (await ollamaDelete(engine.baseUrl, name)) {
        ctx.print(`removed ${name} from Ollama at ${engine.baseUrl}`);
        return;
      }
    }
  }
  throw new CliError("model_not_found", `no model named '${name}' on this node (see infernet model list)`);
}

async function runRecommend(ctx: CommandContext, args: string[]): Promise<void> {
  const flags = parseFlags("model recommend", args, { ...MEMORY_FLAGS, json: { type: "boolean" } });
  const memory = await nodeMemory(flags);
  const budget = memoryBudget(memory);
  const picks = recommendModels(memory);
  if (flags.json) {
    ctx.print(JSON.stringify({
      vram_mb: memory.vramMb,
      ram_mb: memory.ramMb,
      budget_bytes: budget.bytes,
      budget_kind: budget.kind,
      sizes_are_approximate: true,
      models: picks.map((p) => ({
        repo: p.repo,
        file: p.file,
        quant: p.quant,
        approx_bytes: p.approxBytes,
        params_b: p.paramsB,
        note: p.note,
        pull: p.pull,
      })),
    }));
    return;
  }
  const where = budget.kind === "vram" ? `${memory.vramMb} MB VRAM` : `${memory.ramMb} MB RAM, no GPU`;
  ctx.print(`usable for a model: ${formatBytes(budget.bytes)} (${where}); sizes are approximate`);
  if (picks.length === 0) ctx.print("nothing in the curated list fits this node");
  for (const p of picks) {
    ctx.print(
      `  ${`${p.paramsB}B`.padStart(6)} ${p.quant.padEnd(7)} ~${
        formatBytes(p.approxBytes).padEnd(8)
      } ${p.note}`,
    );
    ctx.print(`         infernet model pull ${p.pull}`);
  }
}
