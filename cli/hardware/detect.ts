// Hardware detection: GPUs through `nvidia-smi` and `rocm-smi`, CPU and RAM through Deno's own
// system APIs (Deno refuses /proc reads without full permissions), → VRAM tier.
import { type VramTier, vramTierOf } from "../../shared/hardware/tiers.ts";

/** One GPU. */
export interface GpuInfo {
  index: number;
  vendor: "nvidia" | "amd" | "apple";
  name: string;
  vramMb: number;
  vramUsedMb: number | null;
  utilizationPct: number | null;
  temperatureC: number | null;
  powerW: number | null;
  uuid: string | null;
  architecture: string | null;
}

/** The node's hardware. */
export interface HardwareInfo {
  gpus: GpuInfo[];
  totalVramMb: number;
  vramTier: VramTier;
  cpuCores: number;
  cpuModel: string | null;
  ramMb: number;
  os: string;
  driverVersion: string | null;
  cudaVersion: string | null;
}

/** Runs a tool; null when it is not installed. */
export type CommandRunner = (cmd: string, args: string[]) => Promise<{ code: number; stdout: string } | null>;

/** The NVIDIA query DESIGN.md fixes. */
export const NVIDIA_SMI_ARGS = [
  "--query-gpu=index,name,memory.total,memory.used,utilization.gpu,temperature.gpu,power.draw,driver_version,uuid",
  "--format=csv,noheader,nounits",
];

const ARCHITECTURES: [RegExp, string][] = [
  [/\b(B100|B200|GB200|RTX 50\d\d)\b/i, "Blackwell"],
  [/\b(H100|H200|H800|GH200)\b/i, "Hopper"],
  [/\b(RTX 40\d\d|L4|L40S?|RTX [2-6]000 Ada)\b/i, "Ada Lovelace"],
  [/\b(A100|A10G?|A30|A40|A800|RTX 30\d\d|RTX A\d000)\b/i, "Ampere"],
  [/\b(T4|RTX 20\d\d|GTX 16\d\d|Quadro RTX)\b/i, "Turing"],
  [/\bV100\b/i, "Volta"],
  [/\bMI3\d\dX?\b/i, "CDNA3"],
  [/\bMI2\d\dX?\b/i, "CDNA2"],
  [/\bRX 7\d\d\d/i, "RDNA3"],
  [/\bRX 6\d\d\d/i, "RDNA2"],
];

/** The architecture generation for a GPU name, or null when unknown. */
export function gpuArchitecture(name: string): string | null {
  return ARCHITECTURES.find(([re]) => re.test(name))?.[1] ?? null;
}

function num(s: string | undefined): number | null {
  if (s === undefined) return null;
  const n = Number(s.trim());
  return s.trim() === "" || !Number.isFinite(n) ? null : n;
}

/** Parses `nvidia-smi` CSV output (the query above); malformed lines are skipped. */
export function parseNvidiaSmiCsv(text: string): { gpus: GpuInfo[]; driverVersion: string | null } {
  const gpus: GpuInfo[] = [];
  let driverVersion: string | null = null;
  for (const line of text.split("\n")) {
    const f = line.split(",").map((s) => s.trim());
    if (f.length < 9) continue;
    const index = num(f[0]);
    const vram = num(f[2]);
    if (index === null || vram === null || !f[1]) continue;
    driverVersion ??= f[7] && !f[7].startsWith("[") ? f[7] : null;
    gpus.push({
      index,
      vendor: "nvidia",
      name: f[1],
      vramMb: Math.round(vram),
      vramUsedMb: num(f[3]),
      utilizationPct: num(f[4]),
      temperatureC: num(f[5]),
      powerW: num(f[6]),
      uuid: f[8] && !f[8].startsWith("[") ? f[8] : null,
      architecture: gpuArchitecture(f[1]),
    });
  }
  return { gpus, driverVersion };
}

/** Parses `rocm-smi --showproductname --showmeminfo vram --showuse --json`. */
export function parseRocmSmiJson(text: string): GpuInfo[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return [];
  }
  if (typeof raw !== "object" || raw === null) return [];
  const gpus: GpuInfo[] = [];
  for (const [key, value] of Object.entries(raw as Record<string, Record<string, string>>)) {
    const m = /^card(\d+)$/.exec(key);
    if (!m || typeof value !== "object" || value === null) continue;
    const total = num(value["VRAM Total Memory (B)"]);
    if (total === null) continue;
    const used = num(value["VRAM Total Used Memory (B)"]);
    const name = value["Card Series"] ?? value["Card series"] ?? value["Card Model"] ?? value["Card model"] ??
      "AMD GPU";
    gpus.push({
      index: Number(m[1]),
      vendor: "amd",
      name,
      vramMb: Math.round(total / 1048576),
      vramUsedMb: used === null ? null : Math.round(used / 1048576),
      utilizationPct: num(value["GPU use (%)"]),
      temperatureC: null,
      powerW: null,
      uuid: null,
      architecture: gpuArchitecture(name),
    });
  }
  return gpus;
}

/** Parses the CUDA version from `nvidia-smi`'s banner. */
export function parseCudaVersion(text: string): string | null {
  return /CUDA Version:\s*([\d.]+)/.exec(text)?.[1] ?? null;
}

/** Runs a command with a 5 s bound; null when the tool is missing. */
export const runCommand: CommandRunner = async (cmd, args) => {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(5000),
    })
      .output();
    return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotCapable) return null;
    return { code: -1, stdout: "" };
  }
};

/** Detects the node's hardware; a missing or failing tool means no GPUs of that vendor. */
export async function detectHardware(opts: { run?: CommandRunner; os?: string } = {}): Promise<HardwareInfo> {
  const run = opts.run ?? runCommand;
  const [nv, nvBanner, amd] = await Promise.all([
    run("nvidia-smi", NVIDIA_SMI_ARGS),
    run("nvidia-smi", []),
    run("rocm-smi", ["--showproductname", "--showmeminfo", "vram", "--showuse", "--json"]),
  ]);
  const nvidia = nv?.code === 0 ? parseNvidiaSmiCsv(nv.stdout) : { gpus: [], driverVersion: null };
  const gpus = [...nvidia.gpus, ...(amd?.code === 0 ? parseRocmSmiJson(amd.stdout) : [])];
  const totalVramMb = gpus.reduce((n, g) => n + g.vramMb, 0);
  let ramMb = 0;
  try {
    ramMb = Math.round(Deno.systemMemoryInfo().total / 1048576);
  } catch {
    // No sys permission: RAM unknown.
  }
  return {
    gpus,
    totalVramMb,
    vramTier: vramTierOf(totalVramMb),
    cpuCores: navigator.hardwareConcurrency ?? 1,
    cpuModel: null,
    ramMb,
    os: opts.os ?? Deno.build.os,
    driverVersion: nvidia.driverVersion,
    cudaVersion: nvBanner?.code === 0 ? parseCudaVersion(nvBanner.stdout) : null,
  };
}
