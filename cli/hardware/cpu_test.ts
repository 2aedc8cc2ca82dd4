import assert from "node:assert/strict";
import { parseCpuInfo, parseMemInfo } from "./cpu.ts";
import { fixture } from "./testdata/read_fixture.ts";

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
