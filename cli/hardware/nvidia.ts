// NVIDIA GPUs through `nvidia-smi`: one CSV line per GPU, and the CUDA version from its banner.
import { gpuArchitecture, type GpuInfo, toNumber, toText } from "./gpu_info.ts";

/** The arguments of the `nvidia-smi` query, one CSV line per GPU. */
export const NVIDIA_SMI_ARGS: readonly string[] = [
  "--query-gpu=index,name,memory.total,memory.used,utilization.gpu,temperature.gpu,power.draw,driver_version,uuid",
  "--format=csv,noheader,nounits",
];

function parseNvidiaLine(line: string): { gpu: GpuInfo; driverVersion: string | null } | null {
  const fields = line.split(",").map((f) => f.trim());
  if (fields.length < 9) return null;
  // index, name…, then 7 fixed fields: a name with a comma still parses.
  const [mem, used, util, temp, power, driver, uuid] = fields.slice(-7);
  const name = toText(fields.slice(1, -7).join(", "));
  const vramMb = toNumber(mem);
  if (!/^\d+$/.test(fields[0]) || name === null || vramMb === null || vramMb <= 0) return null;
  return {
    gpu: {
      index: Number(fields[0]),
      vendor: "nvidia",
      name,
      vramMb: Math.round(vramMb),
      vramUsedMb: toNumber(used),
      utilizationPct: toNumber(util),
      temperatureC: toNumber(temp),
      powerW: toNumber(power),
      uuid: toText(uuid),
      architecture: gpuArchitecture(name),
    },
    driverVersion: toText(driver),
  };
}

/** Parses the output of `nvidia-smi` with NVIDIA_SMI_ARGS; lines that are not a GPU are skipped. */
export function parseNvidiaSmiCsv(text: string): { gpus: GpuInfo[]; driverVersion: string | null } {
  const parsed = text.split(/\r?\n/).map(parseNvidiaLine).filter((p) => p !== null);
  return {
    gpus: parsed.map((p) => p.gpu),
    driverVersion: parsed.find((p) => p.driverVersion !== null)?.driverVersion ?? null,
  };
}

/** Parses the CUDA version from `nvidia-smi`'s banner or `nvidia-smi --version`, or null. */
export function parseCudaVersion(text: string): string | null {
  return /CUDA Version\s*:\s*(\d+\.\d+)/i.exec(text)?.[1] ?? null;
}
