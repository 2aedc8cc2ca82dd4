// CPU and RAM from /proc, or from Deno's own APIs where /proc may not be read: Deno reads /proc
// only with --allow-all, and the CLI runs with narrower permissions (then RAM and core count come
// from Deno, and there is no CPU model).
import { MIB } from "./gpu_info.ts";

/** Parses /proc/meminfo into total RAM in MB (MemTotal is in kB), or null when absent. */
export function parseMemInfo(text: string): number | null {
  const kb = /^MemTotal:\s*(\d+)\s*kB/m.exec(text)?.[1];
  return kb === undefined ? null : Math.round(Number(kb) / 1024);
}

/** Parses /proc/cpuinfo into the logical CPU count and the CPU model (null when unnamed, as on ARM). */
export function parseCpuInfo(text: string): { cores: number; model: string | null } {
  const cores = text.match(/^processor\s*:\s*\d+\s*$/gm)?.length ?? 0;
  // x86 names the model; older ARM kernels name it in a capitalised "Processor" line.
  const model = /^model name\s*:\s*(.+)$/m.exec(text)?.[1] ??
    /^Processor\s*:\s*(.*[^\d\s].*)$/m.exec(text)?.[1];
  return { cores, model: model?.trim() || null };
}

// Reads a file only when already permitted: Deno would otherwise prompt, or refuse /proc without -A.
export async function readPermittedTextFile(path: string): Promise<string> {
  if ((await Deno.permissions.query({ name: "read", path })).state !== "granted") {
    throw new Deno.errors.NotCapable(`no read access to ${path}`);
  }
  return await Deno.readTextFile(path);
}

async function readOrNull(read: (path: string) => Promise<string>, path: string): Promise<string | null> {
  try {
    return await read(path);
  } catch {
    return null;
  }
}

function systemRamMb(): number {
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "systemMemoryInfo" }).state !== "granted") return 0;
    return Math.round(Deno.systemMemoryInfo().total / MIB);
  } catch {
    return 0;
  }
}

export async function detectCpuAndRam(
  read: (path: string) => Promise<string>,
): Promise<{ cores: number; model: string | null; ramMb: number }> {
  const [meminfo, cpuinfo] = await Promise.all([
    readOrNull(read, "/proc/meminfo"),
    readOrNull(read, "/proc/cpuinfo"),
  ]);
  const cpu = cpuinfo === null ? { cores: 0, model: null } : parseCpuInfo(cpuinfo);
  return {
    cores: cpu.cores || navigator.hardwareConcurrency || 1,
    model: cpu.model,
    ramMb: (meminfo === null ? null : parseMemInfo(meminfo)) ?? systemRamMb(),
  };
}
