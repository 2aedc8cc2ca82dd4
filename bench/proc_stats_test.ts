// /proc needs --allow-all under Deno, which the test task does not grant: the readings are taken
// by a child run with -A (as `deno task bench` runs the path bench).
import assert from "node:assert/strict";
import { perRequest } from "./proc_stats.ts";

const MODULE = new URL("./proc_stats.ts", import.meta.url).href;

Deno.test("proc stats - a busy child shows CPU time and context switches, and is in its parent's tree", async () => {
  const script = `
    import { processTree, readProcStats } from "${MODULE}";
    // Busy for 300 ms of its own CPU time (not wall time: a loaded machine stretches the wall), then
    // says so and idles; the reading is taken once it has said so (at most 20 s).
    const busy = new Deno.Command(Deno.execPath(), {
      args: ["eval", "import process from 'node:process'; while (process.cpuUsage().user < 300_000) {} console.log('done'); await new Promise((r) => setTimeout(r, 30000));"],
      stdout: "piped",
    }).spawn();
    const before = readProcStats([busy.pid]);
    const reader = busy.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const deadline = setTimeout(() => busy.kill(), 20000);
    for (let seen = ""; !seen.includes("done");) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    clearTimeout(deadline);
    const after = readProcStats([busy.pid]);
    const tree = processTree(Deno.pid);
    busy.kill();
    await busy.status;
    await reader.cancel().catch(() => {});
    console.log(JSON.stringify({ before, after, inTree: tree.includes(busy.pid), gone: readProcStats([busy.pid]) }));
  `;
  const out = await new Deno.Command(Deno.execPath(), { args: ["eval", "-A", "--ext=ts", script] }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.ok(r.inTree, "the child is in its parent's process tree");
  assert.ok(r.after.cpuMs >= 200, `300 ms of busy CPU counts (${r.after.cpuMs} ms)`);
  assert.ok(r.after.cpuMs >= r.before.cpuMs && r.after.switches > 0);
  assert.deepEqual(r.gone, { cpuMs: 0, switches: 0 }, "a process gone counts nothing");
});

Deno.test("proc stats - per request is the difference over the count", () => {
  assert.deepEqual(perRequest({ cpuMs: 10, switches: 5 }, { cpuMs: 310, switches: 35 }, 100), {
    cpuMs: 3,
    switches: 0.3,
  });
});
