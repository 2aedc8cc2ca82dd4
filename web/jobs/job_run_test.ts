// What a job run keeps alive once it has ended. Whether an object has been collected can only be
// seen with V8's gc() exposed, which the test task does not do: the check runs in a child started
// with --expose-gc, and prints what it saw.
import assert from "node:assert/strict";

const JOB_RUN = new URL("./job_run.ts", import.meta.url).href;
const DENO_JSON = new URL("../../deno.json", import.meta.url).pathname;

/**
 * Runs a job to its end while its writes stay pending — the KV job state and the database commit
 * (as while the recorder lingers, or the database is slow) — and reports whether the run, the
 * request its prompt counter reaches, and the stream its abort hook reaches were collected.
 */
const script = `
import { JobRun } from "${JOB_RUN}";
const never = new Promise(() => {});
const pending = new Set();
const deps = {
  jobs: { start: () => never, finish: () => never },
  recorder: { record: () => ({ durable: Promise.resolve(), committed: never }) },
  registry: { recordOutcome() {} },
  log: { error() {}, warn() {}, info() {}, debug() {} },
  jobTimeoutMs: 60_000,
  feeBps: 1000,
  leases: {},
  active: new Map(),
  pending,
};
const refs = {};
async function runJob(countFirst) {
  const request = { messages: [{ role: "user", content: "x".repeat(100_000) }] };
  const stream = { queued: new Array(10_000).fill("chunk") };
  const run = new JobRun(deps, {
    kind: "chat",
    model: "m",
    stream: true,
    apiKeyId: null,
    countPrompt: async () => request.messages.length,
  });
  run.onAbort = () => void stream.queued.length;
  if (countFirst) await run.countPrompt();
  const settled = run.end("completed");
  await settled;
  return { run: new WeakRef(run), request: new WeakRef(request), stream: new WeakRef(stream) };
}
const out = {};
for (const countFirst of [true, false]) {
  const r = await runJob(countFirst);
  // Let the promise jobs run and the stack unwind before collecting.
  await new Promise((res) => setTimeout(res, 0));
  gc();
  await new Promise((res) => setTimeout(res, 0));
  gc();
  out[countFirst ? "counted" : "uncounted"] = {
    run: r.run.deref() === undefined,
    request: r.request.deref() === undefined,
    stream: r.stream.deref() === undefined,
  };
}
out.writesStillPending = pending.size;
console.log(JSON.stringify(out));
`;

Deno.test("job run - once ended, pending writes do not keep the run, its request or its stream alive", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--config", DENO_JSON, "--v8-flags=--expose-gc", "--ext=ts", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  // The writes are still waiting (the test holds them open): what they hold must be the id only.
  assert.equal(r.writesStillPending, 2);
  const collected = { run: true, request: true, stream: true };
  assert.deepEqual(r.counted, collected, "prompt counted before the end");
  assert.deepEqual(r.uncounted, collected, "prompt counted at the end");
});
