// Apple-silicon GPUs through `system_profiler` (macOS), sized from the unified memory they share.
import { isRecord } from "../../shared/mod.ts";
import { gpuArchitecture, type GpuInfo, parseJsonObject } from "./gpu_info.ts";

/** The arguments of the `system_profiler` query (macOS). */
export const SYSTEM_PROFILER_ARGS: readonly string[] = ["SPDisplaysDataType", "-json"];

// Share of unified memory an Apple-silicon GPU can use (about Metal's recommended working set).
const APPLE_GPU_SHARE = 0.75;

/** Parses `system_profiler SPDisplaysDataType -json`: Apple-silicon GPUs, sized from unified memory. */
export function parseSystemProfilerJson(text: string, ramMb: number): GpuInfo[] {
  const displays = parseJsonObject(text)?.SPDisplaysDataType;
  if (!Array.isArray(displays)) return [];
  const gpus: GpuInfo[] = [];
  for (const d of displays) {
    const name = isRecord(d) ? d.sppci_model ?? d._name : undefined;
    if (typeof name !== "string" || !/^Apple M\d/.test(name) || ramMb <= 0) continue;
    gpus.push({
      index: gpus.length,
      vendor: "apple",
      name,
      vramMb: Math.round(ramMb * APPLE_GPU_SHARE),
      vramUsedMb: null,
      utilizationPct: null,
      temperatureC: null,
      powerW: null,
      uuid: null,
      architecture: gpuArchitecture(name),
    });
  }
  return gpus;
}
