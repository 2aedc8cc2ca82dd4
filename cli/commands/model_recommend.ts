// `infernet model recommend`: the curated models that fit this node's memory.
import { recommendModels } from "../models/catalog.ts";
import { formatBytes, memoryBudget } from "../models/quant.ts";
import type { CommandContext } from "./context.ts";
import { parseFlags } from "./flags.ts";
import { MEMORY_FLAGS, nodeMemory } from "./node_memory.ts";

/** Runs `infernet model recommend`. */
export async function runRecommend(ctx: CommandContext, args: string[]): Promise<void> {
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
