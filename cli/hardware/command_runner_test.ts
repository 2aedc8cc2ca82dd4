import assert from "node:assert/strict";
import { createCommandRunner } from "./command_runner.ts";

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
