import assert from "node:assert/strict";
import { type CommandRunner, createCommandRunner } from "./command_runner.ts";
import { detectHardware } from "./detect.ts";
import { gpuArchitecture } from "./gpu_info.ts";
import { NVIDIA_SMI_ARGS, parseCudaVersion, parseNvidiaSmiCsv } from "./nvidia.ts";
import { parseRocmSmiJson, ROCM_SMI_ARGS } from "./amd.ts";
import { parseSystemProfilerJson } from "./apple.ts";
import { parseCpuInfo, parseMemInfo } from "./cpu.ts";

function fixture(name: string): string {
  return Deno.readTextFileSync(new URL(`./testdata/${name}`, import.meta.url));
}

// A machine made of recorded outputs: `tools` maps "cmd args…" to stdout (exit 0); others are missing.
function fakeMachine(tools: Record<string, string>, files: Record<string, string> = {}) {
  const calls: string[] = [];
  const run: CommandRunner = (cmd, args) => {
    const key = [cmd, ...args].join(" ");
    calls.push(key);
    return Promise.resolve(key in tools ? { code: 0, stdout: tools[key] } : null);
  };
  const readTextFile = (path: string) =>
    path in files ? Promise.resolve(files[path]) : Promise.reject(new Deno.errors.NotFound(path));
  return { run, readTextFile, calls };
}

const NVIDIA_QUERY = ["nvidia-smi", ...NVIDIA_SMI_ARGS].join(" ");
const ROCM_QUERY = ["rocm-smi", ...ROCM_SMI_ARGS].join(" ");
const PROC = {
  "/proc/meminfo": fixture("meminfo.txt"),
  "/proc/cpuinfo": fixture("cpuinfo_xeon_8vcpu.txt"),
};

Deno.test("gpuArchitecture - names the generation from real product names", () => {
  const cases: [string, string | null][] = [
    ["NVIDIA H100 80GB HBM3", "Hopper"],
    ["NVIDIA H100 PCIe", "Hopper"],
    ["NVIDIA GH200 480GB", "Hopper"],
    ["NVIDIA H200", "Hopper"],
    ["NVIDIA A100-SXM4-80GB", "Ampere"],
    ["NVIDIA A10G", "Ampere"],
    ["NVIDIA RTX A6000", "Ampere"],
    ["NVIDIA GeForce RTX 3090 Ti", "Ampere"],
    ["NVIDIA GeForce RTX 3060 Laptop GPU", "Ampere"],
    ["NVIDIA GeForce RTX 4090", "Ada Lovelace"],
    ["NVIDIA GeForce RTX 4060 Ti", "Ada Lovelace"],
    ["NVIDIA L4", "Ada Lovelace"],
    ["NVIDIA L40S", "Ada Lovelace"],
    ["NVIDIA RTX 6000 Ada Generation", "Ada Lovelace"],
    ["NVIDIA RTX 5000 Ada Generation", "Ada Lovelace"],
    ["NVIDIA GeForce RTX 2080 Ti", "Turing"],
    ["Tesla T4", "Turing"],
    ["Quadro RTX 5000", "Turing"],
    ["Quadro RTX 4000", "Turing"],
    ["Tesla V100-SXM2-32GB", "Volta"],
    ["Tesla P100-PCIE-16GB", "Pascal"],
    ["NVIDIA GeForce RTX 5090", "Blackwell"],
    ["NVIDIA B200", "Blackwell"],
    ["NVIDIA RTX PRO 6000 Blackwell Server Edition", "Blackwell"],
    ["AMD Instinct MI300X", "CDNA3"],
    ["AMD Instinct MI325X", "CDNA3"],
    ["AMD Instinct MI250X", "CDNA2"],
    ["AMD Instinct MI355X", "CDNA4"],
    ["AMD Radeon RX 7900 XTX", "RDNA3"],
    ["Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]", "RDNA3"],
    ["AMD Radeon PRO W7900", "RDNA3"],
    ["AMD Radeon RX 6800 XT", "RDNA2"],
    ["Apple M2 Max", "Apple M2"],
    ["Matrox G200eR2", null],
    ["AMD GPU", null],
    ["", null],
  ];
  for (const [name, arch] of cases) assert.equal(gpuArchitecture(name), arch, name);
});

Deno.test("parseNvidiaSmiCsv - a single RTX 4090, every field", () => {
  const { gpus, driverVersion } = parseNvidiaSmiCsv(fixture("nvidia_rtx4090.csv"));
  assert.equal(driverVersion, "550.54.15");
  assert.deepEqual(gpus, [{
    index: 0,
    vendor: "nvidia",
    name: "NVIDIA GeForce RTX 4090",
    vramMb: 24564,
    vramUsedMb: 1843,
    utilizationPct: 3,
    temperatureC: 38,
    powerW: 31.42,
    uuid: "GPU-5f3c9a2e-7b1d-4c8e-9a06-2d4b8e1f0c37",
    architecture: "Ada Lovelace",
  }]);
});

Deno.test("parseNvidiaSmiCsv - 8×H100 in order, each with its own UUID", () => {
  const { gpus, driverVersion } = parseNvidiaSmiCsv(fixture("nvidia_8x_h100.csv"));
  assert.equal(driverVersion, "535.183.01");
  assert.deepEqual(gpus.map((g) => g.index), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(new Set(gpus.map((g) => g.uuid)).size, 8);
  assert.ok(gpus.every((g) => g.vramMb === 81559 && g.architecture === "Hopper"));
  assert.equal(gpus[6].powerW, 655.2);
});

Deno.test("parseNvidiaSmiCsv - MIG and unsupported fields become null, the GPU stays", () => {
  const mig = parseNvidiaSmiCsv(fixture("nvidia_mig_a100.csv")).gpus;
  assert.equal(mig.length, 2);
  assert.equal(mig[0].utilizationPct, null);
  assert.equal(mig[0].vramMb, 81920);
  assert.equal(mig[0].powerW, 62.15);
  const laptop = parseNvidiaSmiCsv(fixture("nvidia_laptop_not_supported.csv")).gpus;
  assert.equal(laptop[0].powerW, null);
  assert.equal(laptop[0].utilizationPct, 0);
  assert.equal(laptop[0].vramMb, 6144);
});

Deno.test("parseNvidiaSmiCsv - no GPU, driver errors and garbage lines yield nothing", () => {
  for (const name of ["nvidia_no_devices.txt", "nvidia_driver_mismatch.txt"]) {
    assert.deepEqual(parseNvidiaSmiCsv(fixture(name)), { gpus: [], driverVersion: null }, name);
  }
  assert.deepEqual(parseNvidiaSmiCsv(""), { gpus: [], driverVersion: null });
  // Only the one well-formed line survives: header, warning, empty name, bad index, [N/A] memory,
  // short line, negative index, [Unknown Error] and noise are rejected.
  const { gpus } = parseNvidiaSmiCsv(fixture("nvidia_garbage.csv"));
  assert.deepEqual(gpus.map((g) => [g.index, g.name]), [[0, "NVIDIA GeForce RTX 4090"]]);
});

Deno.test("parseNvidiaSmiCsv - CRLF endings, [N/A] driver and UUID", () => {
  const text =
    "0, Tesla T4, 15360, 0, 0, 29, 9.83, [N/A], [N/A]\r\n1, Tesla T4, 15360, 0, 0, 30, 9.50, 535.1, GPU-x\r\n";
  const { gpus, driverVersion } = parseNvidiaSmiCsv(text);
  assert.equal(gpus.length, 2);
  assert.equal(gpus[0].uuid, null);
  assert.equal(driverVersion, "535.1");
});

Deno.test("parseCudaVersion - from the banner and from --version", () => {
  assert.equal(parseCudaVersion(fixture("nvidia_smi_banner.txt")), "12.4");
  assert.equal(parseCudaVersion(fixture("nvidia_smi_version.txt")), "12.2");
  assert.equal(parseCudaVersion(fixture("nvidia_no_devices.txt")), null);
});

Deno.test("parseRocmSmiJson - 8×MI300X", () => {
  const gpus = parseRocmSmiJson(fixture("rocm_mi300x.txt"));
  assert.equal(gpus.length, 8);
  assert.deepEqual(gpus[4], {
    index: 4,
    vendor: "amd",
    name: "AMD Instinct MI300X",
    vramMb: 196592,
    vramUsedMb: 184488,
    utilizationPct: 100,
    temperatureC: null,
    powerW: null,
    uuid: null,
    architecture: "CDNA3",
  });
  assert.equal(gpus[0].vramUsedMb, 278);
});

Deno.test("parseRocmSmiJson - older key case, a warning before the JSON, an unnamed iGPU", () => {
  const gpus = parseRocmSmiJson(fixture("rocm_rx7900xtx_igpu.txt"));
  assert.deepEqual(gpus.map((g) => [g.name, g.vramMb, g.utilizationPct, g.architecture]), [
    ["Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]", 24560, 7, "RDNA3"],
    ["AMD GPU", 512, null, null],
  ]);
});

Deno.test("parseRocmSmiJson - no GPU, tracebacks and wrong shapes yield nothing", () => {
  assert.deepEqual(parseRocmSmiJson(fixture("rocm_no_gpu.txt")), []);
  assert.deepEqual(parseRocmSmiJson(fixture("rocm_garbage.txt")), []);
  assert.deepEqual(parseRocmSmiJson(""), []);
  assert.deepEqual(parseRocmSmiJson("[1, 2]"), []);
  const shapes = JSON.stringify({
    card0: "not an object",
    card1: { "Card Series": "AMD Instinct MI300X", "VRAM Total Memory (B)": "N/A" },
    card2: { "Card Series": "AMD Instinct MI300X", "VRAM Total Memory (B)": -5 },
    card3: null,
    cardX: { "VRAM Total Memory (B)": "1073741824" },
    system: { "Driver version": "6.7.0" },
    card9: { "Card Series": "N/A", "VRAM Total Memory (B)": 17163091968 },
  });
  assert.deepEqual(parseRocmSmiJson(shapes).map((g) => [g.index, g.name, g.vramMb]), [[9, "AMD GPU", 16368]]);
});

Deno.test("parseSystemProfilerJson - Apple silicon uses a share of unified memory", () => {
  const gpus = parseSystemProfilerJson(fixture("system_profiler_m2max.txt"), 65536);
  assert.deepEqual(gpus.map((g) => [g.vendor, g.name, g.vramMb, g.architecture]), [
    ["apple", "Apple M2 Max", 49152, "Apple M2"],
  ]);
  assert.deepEqual(parseSystemProfilerJson("{}", 65536), []);
  assert.deepEqual(parseSystemProfilerJson("not json", 65536), []);
  assert.deepEqual(parseSystemProfilerJson(fixture("system_profiler_m2max.txt"), 0), []);
});

Deno.test("parseMemInfo and parseCpuInfo - x86, ARM and empty", () => {
  assert.equal(parseMemInfo(fixture("meminfo.txt")), 64223);
  assert.equal(parseMemInfo(""), null);
  assert.deepEqual(parseCpuInfo(fixture("cpuinfo_xeon_8vcpu.txt")), {
    cores: 8,
    model: "Intel(R) Xeon(R) Platinum 8480+",
  });
  assert.deepEqual(parseCpuInfo(fixture("cpuinfo_graviton2_4cpu.txt")), { cores: 4, model: null });
  assert.deepEqual(parseCpuInfo("processor\t: 0\nProcessor\t: AArch64 Processor rev 4 (aarch64)\n"), {
    cores: 1,
    model: "AArch64 Processor rev 4 (aarch64)",
  });
  assert.deepEqual(parseCpuInfo(""), { cores: 0, model: null });
});

Deno.test("detectHardware - an RTX 4090 box", async () => {
  const m = fakeMachine({
    [NVIDIA_QUERY]: fixture("nvidia_rtx4090.csv"),
    "nvidia-smi": fixture("nvidia_smi_banner.txt"),
  }, PROC);
  const hw = await detectHardware({ run: m.run, readTextFile: m.readTextFile, os: "linux" });
  assert.deepEqual({ ...hw, gpus: hw.gpus.map((g) => g.name) }, {
    gpus: ["NVIDIA GeForce RTX 4090"],
    totalVramMb: 24564,
    vramTier: "large",
    cpuCores: 8,
    cpuModel: "Intel(R) Xeon(R) Platinum 8480+",
    ramMb: 64223,
    os: "linux",
    driverVersion: "550.54.15",
    cudaVersion: "12.4",
  });
  assert.deepEqual(m.calls.toSorted(), [NVIDIA_QUERY, "nvidia-smi", ROCM_QUERY].toSorted());
});

Deno.test("detectHardware - VRAM sums over GPUs: 8×H100 is xx1 though one is x1", async () => {
  const m = fakeMachine({ [NVIDIA_QUERY]: fixture("nvidia_8x_h100.csv") }, PROC);
  const hw = await detectHardware({ run: m.run, readTextFile: m.readTextFile, os: "linux" });
  assert.equal(hw.gpus.length, 8);
  assert.equal(hw.totalVramMb, 8 * 81559);
  assert.equal(hw.vramTier, "xx1");
  assert.equal(hw.cudaVersion, null);
});

Deno.test("detectHardware - an AMD box, nvidia-smi missing", async () => {
  const m = fakeMachine({ [ROCM_QUERY]: fixture("rocm_mi300x.txt") }, PROC);
  const hw = await detectHardware({ run: m.run, readTextFile: m.readTextFile, os: "linux" });
  assert.equal(hw.gpus.length, 8);
  assert.ok(hw.gpus.every((g) => g.vendor === "amd"));
  assert.equal(hw.vramTier, "xx1");
  assert.equal(hw.driverVersion, null);
  assert.equal(hw.cudaVersion, null);
});

Deno.test("detectHardware - a Mac asks system_profiler only", async () => {
  const m = fakeMachine(
    { "system_profiler SPDisplaysDataType -json": fixture("system_profiler_m2max.txt") },
    {
      "/proc/meminfo": "MemTotal:       33554432 kB\n",
    },
  );
  const hw = await detectHardware({ run: m.run, readTextFile: m.readTextFile, os: "darwin" });
  assert.deepEqual(m.calls, ["system_profiler SPDisplaysDataType -json"]);
  assert.equal(hw.gpus[0].vendor, "apple");
  assert.equal(hw.totalVramMb, 24576);
  assert.equal(hw.vramTier, "large");
});

Deno.test("detectHardware - no tools, failing tools and unreadable /proc never throw", async () => {
  const missing = await detectHardware({
    run: () => Promise.resolve(null),
    readTextFile: () => Promise.reject(new Deno.errors.NotCapable("no")),
    os: "linux",
  });
  assert.deepEqual(missing.gpus, []);
  assert.equal(missing.totalVramMb, 0);
  assert.equal(missing.vramTier, "nano");
  assert.equal(missing.cpuModel, null);
  assert.equal(missing.cpuCores, navigator.hardwareConcurrency);
  assert.ok(Number.isInteger(missing.ramMb) && missing.ramMb >= 0);

  const failing: CommandRunner = (cmd) =>
    cmd === "rocm-smi"
      ? Promise.reject(new Error("boom"))
      : Promise.resolve({ code: 9, stdout: fixture("nvidia_driver_mismatch.txt") });
  const broken = await detectHardware({
    run: failing,
    readTextFile: () => Promise.resolve("garbage"),
    os: "linux",
  });
  assert.deepEqual(broken.gpus, []);
  assert.equal(broken.driverVersion, null);
  assert.ok(broken.cpuCores >= 1);

  // A timed-out nvidia-smi (killed, so non-zero) with partial output is ignored.
  const partial = fixture("nvidia_8x_h100.csv").slice(0, 300);
  const killed = await detectHardware({
    run: () => Promise.resolve({ code: 143, stdout: partial }),
    readTextFile: () => Promise.resolve(""),
    os: "linux",
  });
  assert.deepEqual(killed.gpus, []);
});

Deno.test("createCommandRunner - runs a tool, null when missing, kills one that hangs", async () => {
  const run = createCommandRunner(200, 100);
  assert.deepEqual(await run("sh", ["-c", "echo hello; exit 3"]), { code: 3, stdout: "hello\n" });
  assert.equal(await run("infernet-no-such-tool-xyz", []), null);
  let t0 = performance.now();
  const slow = await run("sleep", ["10"]);
  assert.ok(slow !== null && slow.code !== 0);
  assert.ok(performance.now() - t0 < 1_000, "SIGTERM at the timeout");
  t0 = performance.now();
  const stubborn = await run("sh", ["-c", "trap '' TERM; exec sleep 10"]);
  assert.deepEqual(stubborn, { code: -1, stdout: "" });
  assert.ok(performance.now() - t0 < 1_000, "SIGKILL after the grace period");
});
