import assert from "node:assert/strict";
import { createLogger } from "./logger.ts";

Deno.test("logger writes one JSON line per entry at or above its level", () => {
  const lines: string[] = [];
  const log = createLogger({ level: "info", write: (l) => lines.push(l), fields: { node: "n1" } });
  log.debug("hidden");
  log.info("shown", { job: "j1" });
  log.child({ part: "p" }).error("bad");
  assert.equal(lines.length, 2);
  const [first, second] = lines.map((l) => JSON.parse(l));
  assert.equal(first.msg, "shown");
  assert.equal(first.level, "info");
  assert.equal(first.node, "n1");
  assert.equal(first.job, "j1");
  assert.equal(second.part, "p");
});

Deno.test("a closed stderr does not end the process that logs", async () => {
  const logger = new URL("./logger.ts", import.meta.url).href;
  const code = `
    import { createLogger } from "${logger}";
    await new Promise((r) => setTimeout(r, 300));
    const log = createLogger();
    for (let i = 0; i < 3; i++) log.warn("into a closed pipe", { i });
    console.log("alive");
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await child.stderr.cancel();
  const out = await child.output();
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "alive");
  assert.equal(out.code, 0);
});
