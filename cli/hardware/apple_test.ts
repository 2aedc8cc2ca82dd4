import assert from "node:assert/strict";
import { parseSystemProfilerJson } from "./apple.ts";
import { fixture } from "./testdata/read_fixture.ts";

Deno.test("parseSystemProfilerJson - Apple silicon uses a share of unified memory", () => {
  const gpus = parseSystemProfilerJson(fixture("system_profiler_m2max.txt"), 65536);
  assert.deepEqual(gpus.map((g) => [g.vendor, g.name, g.vramMb, g.architecture]), [
    ["apple", "Apple M2 Max", 49152, "Apple M2"],
  ]);
  assert.deepEqual(parseSystemProfilerJson("{}", 65536), []);
  assert.deepEqual(parseSystemProfilerJson("not json", 65536), []);
  assert.deepEqual(parseSystemProfilerJson(fixture("system_profiler_m2max.txt"), 0), []);
});
