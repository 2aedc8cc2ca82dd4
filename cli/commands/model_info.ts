// `infernet model info <name>`: a downloaded model, a Hub repo's quants (and which fits this
// node), or a model the engine serves.
import { CliError } from "../cli_error.ts";
import { fetchRepoListing, hubOptionsFromEnv, parseHubRef } from "../models/hub.ts";
import { formatBytes, groupGgufVariants, pickVariant, quantQuality } from "../models/quant.ts";
import { findLocalModels, listLocalModels, localModelJson } from "../models/store.ts";
import { type CommandContext, loadNodeConfig } from "./context.ts";
import { findEngine, parseWithNames } from "./model_args.ts";
import { MEMORY_FLAGS, nodeMemory } from "./node_memory.ts";

/** Runs `infernet model info <name>`. */
export async function runInfo(ctx: CommandContext, args: string[]): Promise<void> {
  const { flags, names } = parseWithNames("info", args, { ...MEMORY_FLAGS, json: { type: "boolean" } }, 1);
  const name = names[0];
  const { home } = await loadNodeConfig(ctx);
  const local = findLocalModels(await listLocalModels(home), name);
  if (local.length > 0) {
    if (flags.json) {
      ctx.print(JSON.stringify({ source: "local", models: local.map(localModelJson) }));
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
  const listing = await fetchRepoListing(hubOptionsFromEnv(ctx.env), repo);
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
