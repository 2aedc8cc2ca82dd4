import assert from "node:assert/strict";
import { JobChannel, TIMED_OUT } from "./job_channel.ts";

Deno.test("job channel - delivers events in order and times out when silent", async () => {
  const ch = new JobChannel();
  ch.push({ type: "chunks", data: ["1"] });
  setTimeout(() => ch.push({ type: "chunks", data: ["2"] }), 5);
  assert.deepEqual(await ch.next(1000), { type: "chunks", data: ["1"] });
  assert.deepEqual(await ch.next(1000), { type: "chunks", data: ["2"] });
  assert.equal(await ch.next(10), TIMED_OUT);
});

Deno.test("job channel - drops everything after a terminal event", async () => {
  const ch = new JobChannel();
  ch.push({ type: "end" });
  ch.push({ type: "chunks", data: ["late"] });
  assert.deepEqual(await ch.next(10), { type: "end" });
  assert.equal(await ch.next(10), TIMED_OUT);
});
