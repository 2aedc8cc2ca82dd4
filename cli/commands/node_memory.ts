// The memory a model must fit, for the commands that choose one (`model pull|info|recommend`,
// `uncensored`): detected, or given with `--vram-mb` / `--ram-mb` when planning for another box.
import { detectHardware } from "../hardware/detect.ts";
import type { NodeMemory } from "../models/quant.ts";
import { positiveInt } from "./flags.ts";

/** The `--vram-mb` / `--ram-mb` flags, for parseFlags. */
export const MEMORY_FLAGS = {
  "vram-mb": { type: "string" },
  "ram-mb": { type: "string" },
} as const;

/** The node's memory as detected, with `--vram-mb` / `--ram-mb` overriding. */
export async function nodeMemory(flags: { "vram-mb"?: string; "ram-mb"?: string }): Promise<NodeMemory> {
  const vram = flags["vram-mb"] === "0" ? 0 : positiveInt("vram-mb", flags["vram-mb"]);
  const ram = positiveInt("ram-mb", flags["ram-mb"]);
  if (vram !== undefined && ram !== undefined) return { vramMb: vram, ramMb: ram };
  const hw = await detectHardware();
  return { vramMb: vram ?? hw.totalVramMb, ramMb: ram ?? hw.ramMb };
}
