import assert from "node:assert/strict";
import { detectHardware } from "../hardware/detect.ts";
import { NVIDIA_SMI_ARGS } from "../hardware/nvidia.ts";
import { ROCM_SMI_ARGS } from "../hardware/amd.ts";
import { runCli } from "../../testing/run_cli.ts";
import { formatHardware, hardwareJson } from "./gpu.ts";

const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(`../hardware/testdata/${name}`, import.meta.url));

// A machine answering only the given tool command lines (recorded outputs), with /proc files.
function machine(tools: Record<string, string>) {
  const files: Record<string, string> = {
    "/proc/meminfo": fixture("meminfo.txt"),
    "/proc/cpuinfo": fixture("cpuinfo_xeon_8vcpu.txt"),
  };
  return {
    os: "linux",
    run: (cmd: string, args: string[]) => {
      const key = [cmd, ...args].join(" ");
      return Promise.resolve(key in tools ? { code: 0, stdout: tools[key] } : null);
    },
    readTextFile: (p: string) => (p in files ? Promise.resolve(files[p]) : Promise.reject(new Error(p))),
  };
}

Deno.test("gpu - 8×H100: a row per GPU with its architecture, totals, driver, CUDA and tier", async () => {
  const hw = await detectHardware(machine({
    [["nvidia-smi", ...NVIDIA_SMI_ARGS].join(" ")]: fixture("nvidia_8x_h100.csv"),
    "nvidia-smi": fixture("nvidia_smi_banner.txt"),
  }));
  const lines = formatHardware(hw);
  assert.match(lines[0], /^IDX\s+MODEL\s+ARCH\s+VRAM\s+USED\s+UTIL\s+TEMP\s+POWER$/);
  assert.equal(
    lines.filter((l) => /^\d\s+NVIDIA H100 80GB HBM3\s+Hopper\s+81559 MB\s+742\d\d MB/.test(l)).length,
    8,
  );
  assert.ok(lines.includes("total:   8 GPUs, 637.2 GB VRAM, 579.8 GB used"), lines.join("\n"));
  assert.ok(lines.includes("driver:  driver 535.183.01, CUDA 12.4"));
  assert.ok(lines.includes("tier:    xx1"));
  assert.ok(lines.some((l) => /^cpu:\s+8 cores \(.+\)$/.test(l)));
  const json = hardwareJson(hw);
  assert.equal(json.gpu_count, 8);
  assert.equal(json.cuda_version, "12.4");
  assert.equal((json.gpus as { architecture: string }[])[0].architecture, "Hopper");
});

Deno.test("gpu - AMD MI300X shows CDNA3 and dashes for what rocm-smi does not report", async () => {
  const hw = await detectHardware(
    machine({ [["rocm-smi", ...ROCM_SMI_ARGS].join(" ")]: fixture("rocm_mi300x.txt") }),
  );
  const lines = formatHardware(hw);
  const row = lines.find((l) => l.includes("MI300X"));
  assert.match(row ?? "", /CDNA3.*- C\s+-\s*W$|CDNA3.*-\s+-$/);
  assert.ok(!lines.some((l) => l.startsWith("driver:")), "no NVIDIA driver line for AMD");
});

Deno.test("gpu - no GPU: says the node serves on the CPU, tier nano", async () => {
  const lines = formatHardware(await detectHardware(machine({})));
  assert.match(lines[0], /no GPU found/);
  assert.ok(lines.includes("tier:    nano"));
});

Deno.test("gpu - `infernet gpu --json` and the table run under the CLI's own permissions", async () => {
  const home = await Deno.makeTempDir({ prefix: "infernet-gpu-" });
  try {
    const json = await runCli(["gpu", "--json"], { INFERNET_HOME: home });
    assert.equal(json.code, 0, json.stderr);
    const hw = JSON.parse(json.stdout);
    assert.ok(Array.isArray(hw.gpus));
    assert.ok(hw.cpu_cores >= 1 && hw.ram_mb > 0, json.stdout);
    const table = await runCli(["gpu"], { INFERNET_HOME: home });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^tier: {4}(nano|small|medium|large|x1|xx1)$/m);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
