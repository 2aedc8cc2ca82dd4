import assert from "node:assert/strict";
import { sleep } from "./sleep.ts";

Deno.test("sleep - resolves after the time asked for", async () => {
  const t0 = performance.now();
  await sleep(30);
  assert.ok(performance.now() - t0 >= 25);
});

Deno.test("sleep - rejects with the signal's reason when aborted mid-wait", async () => {
  const ac = new AbortController();
  const waiting = sleep(Infinity, { signal: ac.signal });
  ac.abort(new Error("gone"));
  await assert.rejects(waiting, /gone/);
});

Deno.test("sleep - rejects at once when the signal has already aborted", async () => {
  await assert.rejects(sleep(10_000, { signal: AbortSignal.abort(new Error("before")) }), /before/);
});
