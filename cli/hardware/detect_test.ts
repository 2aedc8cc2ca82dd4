import assert from "node:assert/strict";
import type { CommandRunner } from "./command_runner.ts";
import { detectHardware } from "./detect.ts";
import { NVIDIA_SMI_ARGS } from "./nvidia.ts";
import { ROCM_SMI_ARGS } from "./amd.ts";
import { fixture } from "./testdata/read_fixture.ts";

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
