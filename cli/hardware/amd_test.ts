import assert from "node:assert/strict";
import { parseRocmSmiJson } from "./amd.ts";
import { fixture } from "./testdata/read_fixture.ts";

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
