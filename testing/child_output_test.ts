import assert from "node:assert/strict";
import { denoCommand, watchOutput } from "./child_output.ts";

const script = (code: string) => denoCommand(["eval", code]).spawn();

Deno.test("child output - waitFor finds a line printed after a pause, and the first line is whole", async () => {
  const child = script(`
    await Deno.stdout.write(new TextEncoder().encode('{"url":"http://x"'));
    await new Promise((r) => setTimeout(r, 100));
    console.log("}");
    console.log("ready at 1234");
  `);
  const out = watchOutput(child.stdout);
  assert.equal(await out.firstLine(), '{"url":"http://x"}');
  assert.equal((await out.waitFor(/^ready at (\d+)$/m))[1], "1234");
  await child.status;
  await out.done;
});

Deno.test("child output - waitFor fails as soon as the output ends without the pattern", async () => {
  const child = script(`console.log("something else")`);
  const out = watchOutput(child.stdout);
  const t0 = Date.now();
  await assert.rejects(out.waitFor(/never/, 60_000), /ended without \/never\/[^]*something else/);
  assert.ok(Date.now() - t0 < 30_000);
  await child.status;
});

Deno.test("child output - waitFor gives up after its timeout, naming what was printed", async () => {
  const child = script(`console.log("slow"); await new Promise((r) => setTimeout(r, 5_000));`);
  const out = watchOutput(child.stdout);
  await assert.rejects(out.waitFor(/never/, 200), /no \/never\/ within 200 ms[^]*slow/);
  child.kill("SIGKILL");
  await child.status;
  await out.done;
});

Deno.test("child output - keepChars keeps only the tail", async () => {
  const child = script(`console.log("a".repeat(1000) + "TAIL")`);
  const out = watchOutput(child.stdout, { keepChars: 10 });
  await out.done;
  await child.status;
  assert.equal(out.text(), "aaaaaTAIL\n");
});
