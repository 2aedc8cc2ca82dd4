import assert from "node:assert/strict";
import { type JobState, JobStore } from "./job_store.ts";

function state(id: string): JobState {
  return {
    id,
    kind: "chat",
    model: "m",
    stream: false,
    apiKeyId: null,
    nodePubkey: null,
    status: "running",
    createdAt: Date.now(),
    finishedAt: null,
  };
}

async function withKv(fn: (kv: Deno.Kv) => Promise<void>) {
  const kv = await Deno.openKv(":memory:");
  try {
    await fn(kv);
  } finally {
    try {
      kv.close();
    } catch {
      // The test closed it itself.
    }
  }
}

Deno.test("job store - a job ends once: finish wins, a later deadline does nothing", async () => {
  await withKv(async (kv) => {
    const jobs = new JobStore(kv);
    assert.equal(await jobs.start(state("a"), 60_000), true);
    assert.equal((await jobs.get("a"))?.status, "running");
    assert.equal(await jobs.finish("a", { status: "completed", nodePubkey: "n" }), true);
    assert.equal(await jobs.finish("a", { status: "failed", nodePubkey: "n" }), false);
    const reaped: string[] = [];
    await jobs.handleMessage({ type: "job_deadline", jobId: "a" }, (s) => void reaped.push(s.id));
    assert.deepEqual(reaped, []);
    assert.equal((await jobs.get("a"))?.status, "completed");
  });
});

Deno.test("job store - the deadline reaps a job still running, and its finish then loses", async () => {
  await withKv(async (kv) => {
    const jobs = new JobStore(kv);
    await jobs.start(state("b"), 60_000);
    const reaped: JobState[] = [];
    await jobs.handleMessage({ type: "job_deadline", jobId: "b" }, (s) => void reaped.push(s));
    assert.equal(reaped.length, 1);
    assert.equal(reaped[0].status, "timeout");
    assert.equal(await jobs.finish("b", { status: "completed", nodePubkey: null }), false);
    assert.equal((await jobs.get("b"))?.status, "timeout");
  });
});

Deno.test("job store - the deadline arrives through the KV queue by itself", async () => {
  await withKv(async (kv) => {
    const jobs = new JobStore(kv);
    const reaped = Promise.withResolvers<JobState>();
    const listening = kv.listenQueue((msg) => jobs.handleMessage(msg, (s) => reaped.resolve(s)));
    await jobs.start(state("c"), 10);
    const timer = setTimeout(() => reaped.reject(new Error("no deadline within 5 s")), 5000);
    const s = await reaped.promise;
    clearTimeout(timer);
    assert.equal(s.id, "c");
    assert.equal(s.status, "timeout");
    kv.close();
    await listening.catch(() => {});
  });
});

Deno.test("job store - another instance (no versionstamp in memory) can still finish a job", async () => {
  await withKv(async (kv) => {
    await new JobStore(kv).start(state("d"), 60_000);
    const other = new JobStore(kv);
    assert.equal(await other.finish("d", { status: "cancelled", nodePubkey: null }), true);
    assert.equal((await other.get("d"))?.status, "cancelled");
  });
});
