import assert from "node:assert/strict";
import { parseCudaVersion, parseNvidiaSmiCsv } from "./nvidia.ts";
import { fixture } from "./testdata/read_fixture.ts";

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
