// `infernet gpu`: the node's GPUs (model, architecture, VRAM, load, temperature, power), drivers,
// VRAM tier, CPU, RAM and OS, as a table or as JSON for scripts.
import { detectHardware, type HardwareInfo } from "../hardware/detect.ts";
import type { CommandContext } from "./context.ts";
import { parseFlags } from "./flags.ts";
import { formatTable } from "./table.ts";

/** The JSON form of `infernet gpu --json` (snake_case, like the other commands' JSON). */
export function hardwareJson(hw: HardwareInfo): Record<string, unknown> {
  return {
    gpus: hw.gpus.map((g) => ({
      index: g.index,
      vendor: g.vendor,
      name: g.name,
      architecture: g.architecture,
      vram_mb: g.vramMb,
      vram_used_mb: g.vramUsedMb,
      utilization_pct: g.utilizationPct,
      temperature_c: g.temperatureC,
      power_w: g.powerW,
      uuid: g.uuid,
    })),
    gpu_count: hw.gpus.length,
    total_vram_mb: hw.totalVramMb,
    vram_tier: hw.vramTier,
    driver_version: hw.driverVersion,
    cuda_version: hw.cudaVersion,
    cpu_cores: hw.cpuCores,
    cpu_model: hw.cpuModel,
    ram_mb: hw.ramMb,
    os: hw.os,
  };
}

const gb = (mb: number) => `${(mb / 1024).toFixed(1)} GB`;
const orDash = (x: number | null, unit: string) => (x === null ? "-" : `${Math.round(x)}${unit}`);

/** The readable report: a row per GPU, then totals, drivers, tier, CPU, RAM and OS. */
export function formatHardware(hw: HardwareInfo): string[] {
  const lines: string[] = [];
  if (hw.gpus.length === 0) {
    lines.push("no GPU found (nvidia-smi, rocm-smi or Apple silicon): this node serves on the CPU");
  } else {
    const rows = [["IDX", "MODEL", "ARCH", "VRAM", "USED", "UTIL", "TEMP", "POWER"]];
    for (const g of hw.gpus) {
      rows.push([
        String(g.index),
        g.name,
        g.architecture ?? "unknown",
        `${g.vramMb} MB`,
        orDash(g.vramUsedMb, " MB"),
        orDash(g.utilizationPct, " %"),
        orDash(g.temperatureC, " C"),
        orDash(g.powerW, " W"),
      ]);
    }
    lines.push(...formatTable(rows));
    const used = hw.gpus.every((g) => g.vramUsedMb !== null)
      ? `, ${gb(hw.gpus.reduce((s, g) => s + (g.vramUsedMb ?? 0), 0))} used`
      : "";
    lines.push("");
    lines.push(
      `total:   ${hw.gpus.length} GPU${hw.gpus.length === 1 ? "" : "s"}, ${gb(hw.totalVramMb)} VRAM${used}`,
    );
    const drivers = [
      hw.driverVersion ? `driver ${hw.driverVersion}` : null,
      hw.cudaVersion ? `CUDA ${hw.cudaVersion}` : null,
    ].filter((x) => x !== null);
    if (drivers.length > 0) lines.push(`driver:  ${drivers.join(", ")}`);
  }
  lines.push(`tier:    ${hw.vramTier}`);
  lines.push(`cpu:     ${hw.cpuCores} cores${hw.cpuModel ? ` (${hw.cpuModel})` : ""}`);
  lines.push(`ram:     ${gb(hw.ramMb)}`);
  lines.push(`os:      ${hw.os}`);
  return lines;
}

/** Runs `infernet gpu`. */
export async function runGpu(ctx: CommandContext): Promise<void> {
  const f = parseFlags("gpu", ctx.args, { json: { type: "boolean" } });
  const hw = await detectHardware();
  if (f.json) {
    ctx.print(JSON.stringify(hardwareJson(hw)));
    return;
  }
  for (const line of formatHardware(hw)) ctx.print(line);
}
