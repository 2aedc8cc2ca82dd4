// Hardware detection: NVIDIA GPUs through `nvidia-smi`, AMD through `rocm-smi`, Apple silicon
// through `system_profiler`, CPU and RAM from /proc → VRAM tier. Parsers are pure; tools and files
// are injected so tests run on recorded outputs. Nothing here throws or hangs: a missing, failing or
// stuck tool means no GPUs of that vendor.
//
// Deno reads /proc only with --allow-all, and the CLI runs with narrower permissions, so /proc is
// read only when permitted and Deno's own APIs fill in otherwise (RAM, core count; no CPU model).
import { isRecord, type VramTier, vramTierOf } from "../../shared/mod.ts";

/** One GPU as the node advertises it. */
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

/** Runs a tool and returns its exit code and stdout, or null when the tool is not installed. */
export type CommandRunner = (cmd: string, args: string[]) => Promise<{ code: number; stdout: string } | null>;

/** What `detectHardware` reads the machine through; each defaults to the real thing. */
export interface DetectHardwareOptions {
  run?: CommandRunner;
  readTextFile?: (path: string) => Promise<string>;
  os?: string;
}

/** The arguments of the `nvidia-smi` query, one CSV line per GPU. */
export const NVIDIA_SMI_ARGS: readonly string[] = [
  "--query-gpu=index,name,memory.total,memory.used,utilization.gpu,temperature.gpu,power.draw,driver_version,uuid",
  "--format=csv,noheader,nounits",
];

/** The arguments of the `rocm-smi` query, a JSON object keyed by "card0", "card1", …. */
export const ROCM_SMI_ARGS: readonly string[] = [
  "--showproductname",
  "--showmeminfo",
  "vram",
  "--showuse",
  "--json",
];

/** The arguments of the `system_profiler` query (macOS). */
export const SYSTEM_PROFILER_ARGS: readonly string[] = ["SPDisplaysDataType", "-json"];

/** How long one tool may run before it is killed. */
export const COMMAND_TIMEOUT_MS = 5_000;

// Share of unified memory an Apple-silicon GPU can use (about Metal's recommended working set).
const APPLE_GPU_SHARE = 0.75;
const KILL_GRACE_MS = 1_000;
const MIB = 1024 * 1024;
const failed = () => ({ code: -1, stdout: "" });

// Most specific first: "Quadro RTX 5000" is Turing and "RTX 5000 Ada" is Ada, not Blackwell.
const ARCHITECTURES: readonly [RegExp, string][] = [
  [/\b(Quadro RTX|TITAN RTX)\b/i, "Turing"],
  [/\bRTX \d{4}( SFF)? Ada\b|\bAda Generation\b/i, "Ada Lovelace"],
  [/\bBlackwell\b|\b(GB[123]00|B[123]00)\b|\bRTX 50[5-9]0/i, "Blackwell"],
  [/\b(GH200|H100|H200|H800|H20)\b/i, "Hopper"],
  [/\b(L4|L40S?|L20)\b|\bRTX 40[5-9]0/i, "Ada Lovelace"],
  [/\b(A100|A800|A40|A30|A16|A10G?|A2|RTX A\d{3,4})\b|\bRTX 30[5-9]0/i, "Ampere"],
  [/\b(T4|GTX 16[5-6]0)\b|\bRTX 20[6-8]0/i, "Turing"],
  [/\b(V100|TITAN V)\b/i, "Volta"],
  [/\b(P100|P40|P4|TITAN Xp)\b|\bGTX 10[5-8]0/i, "Pascal"],
  [/\bMI3[5-9]\d[XA]?\b/i, "CDNA4"],
  [/\bMI3[0-2]\d[XA]?\b/i, "CDNA3"],
  [/\bMI2\d\dX?\b/i, "CDNA2"],
  [/\bMI100\b/i, "CDNA"],
  [/\b(RX 9\d{3}|R9700|Navi 4\d)\b/i, "RDNA4"],
  [/\b(RX 7\d{3}|W7\d{3}|Navi 3\d)\b/i, "RDNA3"],
  [/\b(RX 6\d{3}|W6\d{3}|Navi 2\d)\b/i, "RDNA2"],
];

/** The architecture generation of a GPU from its name (H100 → "Hopper"), or null when unknown. */
export function gpuArchitecture(name: string): string | null {
  const apple = /\bApple (M\d+)/i.exec(name);
  if (apple) return `Apple ${apple[1].toUpperCase()}`;
  return ARCHITECTURES.find(([re]) => re.test(name))?.[1] ?? null;
}

// A number, or null for "[N/A]", "[Not Supported]", "" and other non-numbers.
function toNumber(value: unknown): number | null {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value !== "string" || !/^\s*-?\d+(\.\d+)?\s*$/.test(value)) return null;
  return Number(value);
}

// A text value, or null for nvidia-smi's bracketed placeholders and "N/A".
function toText(value: string | undefined): string | null {
  const text = value?.trim() ?? "";
  return text === "" || text.startsWith("[") || /^N\/A$/i.test(text) ? null : text;
}

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

// The JSON object in a tool's stdout, skipping any warning lines printed around it.
function parseJsonObject(text: string): Record<string, unknown> | null {
  const start = text.indexOf("{");
  const end = text.lastIndexOf("}");
  if (start < 0 || end < start) return null;
  try {
    const value: unknown = JSON.parse(text.slice(start, end + 1));
    return isRecord(value) ? value : null;
  } catch {
    return null;
  }
}

// rocm-smi's key case changed between releases ("Card series" → "Card Series").
function rocmField(card: Record<string, unknown>, key: string): unknown {
  const found = Object.keys(card).find((k) => k.toLowerCase() === key.toLowerCase());
  return found === undefined ? undefined : card[found];
}

// A usable product name: not empty, not "N/A", not a bare PCI id such as "0x74a1".
function rocmName(card: Record<string, unknown>): string {
  for (const key of ["Card Series", "Card Model"]) {
    const value = rocmField(card, key);
    if (typeof value !== "string") continue;
    const name = toText(value);
    if (name !== null && !/^0x[0-9a-f]+$/i.test(name)) return name;
  }
  return "AMD GPU";
}

function rocmCard(key: string, card: unknown): GpuInfo | null {
  const index = /^card(\d+)$/.exec(key)?.[1];
  if (index === undefined || !isRecord(card)) return null;
  const totalB = toNumber(rocmField(card, "VRAM Total Memory (B)"));
  if (totalB === null || totalB <= 0) return null;
  const usedB = toNumber(rocmField(card, "VRAM Total Used Memory (B)"));
  const name = rocmName(card);
  return {
    index: Number(index),
    vendor: "amd",
    name,
    vramMb: Math.round(totalB / MIB),
    vramUsedMb: usedB === null ? null : Math.round(usedB / MIB),
    utilizationPct: toNumber(rocmField(card, "GPU use (%)")),
    temperatureC: null,
    powerW: null,
    uuid: null,
    architecture: gpuArchitecture(name),
  };
}

/** Parses the output of `rocm-smi` with ROCM_SMI_ARGS; cards without a VRAM size are skipped. */
export function parseRocmSmiJson(text: string): GpuInfo[] {
  const cards = parseJsonObject(text) ?? {};
  return Object.entries(cards)
    .map(([key, card]) => rocmCard(key, card))
    .filter((g) => g !== null)
    .sort((a, b) => a.index - b.index);
}

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

function isMissingTool(err: unknown): boolean {
  return err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotCapable;
}

/** Makes a runner on Deno.Command that never prompts for permission and kills a tool after `timeoutMs`. */
export function createCommandRunner(
  timeoutMs = COMMAND_TIMEOUT_MS,
  killGraceMs = KILL_GRACE_MS,
): CommandRunner {
  return async (cmd, args) => {
    let child: Deno.ChildProcess;
    try {
      // An ungranted command would prompt the operator; treat it as absent instead.
      if (Deno.permissions.querySync({ name: "run", command: cmd }).state !== "granted") return null;
      child = new Deno.Command(cmd, {
        args,
        stdin: "null",
        stdout: "piped",
        stderr: "null",
        signal: AbortSignal.timeout(timeoutMs),
      }).spawn();
    } catch (err) {
      return isMissingTool(err) ? null : failed();
    }
    // SIGTERM at the timeout; a tool that ignores it is killed and abandoned after a grace period.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs + killGraceMs);
    });
    try {
      const out = await Promise.race([child.output(), deadline]);
      if (out === null) {
        killQuietly(child);
        return failed();
      }
      return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
    } catch {
      return failed();
    } finally {
      clearTimeout(timer);
    }
  };
}

function killQuietly(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already gone.
  }
}

/** The default runner: Deno.Command, each tool bounded by COMMAND_TIMEOUT_MS. */
export const runCommand: CommandRunner = createCommandRunner();

// Reads a file only when already permitted: Deno would otherwise prompt, or refuse /proc without -A.
async function readPermittedTextFile(path: string): Promise<string> {
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

async function detectCpuAndRam(
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
