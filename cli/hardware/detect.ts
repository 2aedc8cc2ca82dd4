// Hardware detection: NVIDIA GPUs (nvidia.ts), AMD (amd.ts), Apple silicon (apple.ts), CPU and
// RAM (cpu.ts) → VRAM tier. Parsers are pure; tools and files are injected so tests run on
// recorded outputs. Nothing here throws or hangs: a missing, failing or stuck tool means no GPUs of
// that vendor.
import { type VramTier, vramTierOf } from "../../shared/mod.ts";
import { type CommandRunner, failed, runCommand } from "./command_runner.ts";
import { detectCpuAndRam, readPermittedTextFile } from "./cpu.ts";
import type { GpuInfo } from "./gpu_info.ts";
import { NVIDIA_SMI_ARGS, parseCudaVersion, parseNvidiaSmiCsv } from "./nvidia.ts";
import { parseRocmSmiJson, ROCM_SMI_ARGS } from "./amd.ts";
import { parseSystemProfilerJson, SYSTEM_PROFILER_ARGS } from "./apple.ts";

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

/** What `detectHardware` reads the machine through; each defaults to the real thing. */
export interface DetectHardwareOptions {
  run?: CommandRunner;
  readTextFile?: (path: string) => Promise<string>;
  os?: string;
}

async function detectGpus(
  run: CommandRunner,
  os: string,
  ramMb: number,
): Promise<{ gpus: GpuInfo[]; driverVersion: string | null; cudaVersion: string | null }> {
  if (os === "darwin") {
    const out = await run("system_profiler", [...SYSTEM_PROFILER_ARGS]);
    const gpus = out?.code === 0 ? parseSystemProfilerJson(out.stdout, ramMb) : [];
    return { gpus, driverVersion: null, cudaVersion: null };
  }
  const [nv, banner, amd] = await Promise.all([
    run("nvidia-smi", [...NVIDIA_SMI_ARGS]),
    run("nvidia-smi", []),
    run("rocm-smi", [...ROCM_SMI_ARGS]),
  ]);
  // nvidia-smi's exit code is meaningful; rocm-smi exits non-zero when one field is unsupported.
  const nvidia = nv?.code === 0 ? parseNvidiaSmiCsv(nv.stdout) : { gpus: [], driverVersion: null };
  const hasNvidia = nvidia.gpus.length > 0;
  return {
    gpus: [...nvidia.gpus, ...(amd ? parseRocmSmiJson(amd.stdout) : [])],
    driverVersion: nvidia.driverVersion,
    cudaVersion: hasNvidia && banner?.code === 0 ? parseCudaVersion(banner.stdout) : null,
  };
}

/** Detects GPUs, CPU and RAM; never throws, and a missing or failing tool means no GPUs of its vendor. */
export async function detectHardware(opts: DetectHardwareOptions = {}): Promise<HardwareInfo> {
  const os = opts.os ?? Deno.build.os;
  const run = opts.run ?? runCommand;
  // An injected runner that throws counts as a failing tool.
  const safeRun: CommandRunner = async (cmd, args) => {
    try {
      return await run(cmd, args);
    } catch {
      return failed();
    }
  };
  const cpu = await detectCpuAndRam(opts.readTextFile ?? readPermittedTextFile);
  const found = await detectGpus(safeRun, os, cpu.ramMb);
  const totalVramMb = found.gpus.reduce((sum, g) => sum + g.vramMb, 0);
  return {
    gpus: found.gpus,
    totalVramMb,
    vramTier: vramTierOf(totalVramMb),
    cpuCores: cpu.cores,
    cpuModel: cpu.model,
    ramMb: cpu.ramMb,
    os,
    driverVersion: found.driverVersion,
    cudaVersion: found.cudaVersion,
  };
}
