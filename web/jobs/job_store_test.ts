import assert from "node:assert/strict";
import { type JobState, JobStore } from "./job_store.ts";
import { sleep } from "../../shared/mod.ts";

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

/** Every job entry in KV, by id. */
async function entries(kv: Deno.Kv): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const e of kv.list<JobState>({ prefix: ["jobs"] })) out[String(e.key[1])] = e.value.status;
  return out;
}

/** Counts the atomic commits made on `kv` from now on. */
function countCommits(kv: Deno.Kv): { readonly n: number } {
  const counter = { n: 0 };
  const atomic = kv.atomic.bind(kv);
  kv.atomic = () => {
    const op = atomic();
    const commit = op.commit.bind(op);
    op.commit = () => {
      counter.n++;
      return commit();
    };
    return op;
  };
  return counter;
}

Deno.test("job store - a job ends once: finish wins and leaves KV, a later deadline does nothing", async () => {
  await withKv(async (kv) => {
    const jobs = new JobStore(kv);
    assert.equal(await jobs.start(state("a"), 60_000), true);
    assert.equal((await jobs.get("a"))?.status, "running");
    assert.equal(await jobs.finish("a"), true);
    assert.equal(await jobs.finish("a"), false);
    const reaped: string[] = [];
    await jobs.handleMessage({ type: "job_deadline", jobId: "a" }, (s) => void reaped.push(s.id));
    assert.deepEqual(reaped, []);
    assert.deepEqual(await entries(kv), {});
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
    assert.equal(await jobs.finish("b"), false);
    assert.deepEqual(await entries(kv), {});
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
    assert.equal(await other.finish("d"), true);
    assert.equal(await other.get("d"), null);
  });
});

Deno.test("job store - a job that ends before its start is written never reaches KV, and has no deadline", async () => {
  await withKv(async (kv) => {
    const messages: unknown[] = [];
    const listening = kv.listenQueue((msg) => void messages.push(msg));
    const jobs = new JobStore(kv, { lingerMs: 20 });
    const commits = countCommits(kv);
    const started = jobs.start(state("quick"), 10);
    const finished = jobs.finish("quick");
    assert.deepEqual(await Promise.all([started, finished]), [true, true]);
    await jobs.flush();
    assert.equal(commits.n, 0);
    assert.deepEqual(await entries(kv), {});
    // A second finish of the same job changes nothing.
    assert.equal(await jobs.finish("quick"), false);
    // The 10 ms deadline would have been delivered by now (the queue polls about every 100 ms).
    await sleep(1500);
    assert.deepEqual(messages, []);
    kv.close();
    await listening.catch(() => {});
  });
});

Deno.test("job store - a start is written once the job has run for half the linger; a shorter job never is", async () => {
  await withKv(async (kv) => {
    const jobs = new JobStore(kv, { lingerMs: 300 });
    const commits = countCommits(kv);
    const long = jobs.start(state("long"), 60_000);
    await sleep(200);
    // Queued 200 ms after the first: still under 150 ms old when the first one's commit goes.
    const short = jobs.start(state("short"), 60_000);
    assert.equal(await long, true);
    assert.deepEqual(await entries(kv), { long: "running" });
    assert.equal(await jobs.finish("short"), true);
    assert.equal(await short, true);
    await jobs.flush();
    assert.deepEqual(await entries(kv), { long: "running" });
    assert.equal(commits.n, 1);
    assert.equal(await jobs.finish("long"), true);
    assert.deepEqual(await entries(kv), {});
    assert.equal(commits.n, 2);
  });
});

Deno.test("job store - jobs that start or finish within the linger share one commit", async () => {
  await withKv(async (kv) => {
    const jobs = new JobStore(kv, { lingerMs: 30 });
    const ids = ["s1", "s2", "s3", "s4", "s5"];
    assert.deepEqual(await Promise.all(ids.map((id) => jobs.start(state(id), 60_000))), ids.map(() => true));
    const stamps = await Promise.all(ids.map(async (id) => (await kv.get(["jobs", id])).versionstamp));
    assert.equal(new Set(stamps).size, 1, "one atomic commit gives every key the same versionstamp");
    // Their ends, and a new job's start, go together too.
    const commits = countCommits(kv);
    const ends = ids.map((id) => jobs.finish(id));
    assert.equal(await jobs.start(state("s6"), 60_000), true);
    assert.deepEqual(await Promise.all(ends), ids.map(() => true));
    assert.equal(commits.n, 1);
    assert.deepEqual(await entries(kv), { s6: "running" });
  });
});

Deno.test("job store - a burst larger than one KV commit allows is split, and every job is written", async () => {
  await withKv(async (kv) => {
    const jobs = new JobStore(kv, { lingerMs: 5 });
    const ids = Array.from({ length: 250 }, (_, i) => `b${i}`);
    assert.ok((await Promise.all(ids.map((id) => jobs.start(state(id), 60_000)))).every((ok) => ok));
    const stamps = await Promise.all(ids.map(async (id) => (await kv.get(["jobs", id])).versionstamp));
    assert.ok(stamps.every((s) => s !== null));
    assert.equal(new Set(stamps).size, 3, "250 jobs in commits of at most 100 (KV's limit on checks)");
  });
});

Deno.test("job store - one job refused in a batch does not fail the others", async () => {
  await withKv(async (kv) => {
    const jobs = new JobStore(kv, { lingerMs: 20 });
    await Promise.all([jobs.start(state("x"), 60_000), jobs.start(state("y"), 60_000)]);
    // Another instance ends x first (as its reaper could).
    assert.equal(await new JobStore(kv).finish("x"), true);
    const results = await Promise.all([
      jobs.finish("x"),
      jobs.finish("y"),
      jobs.start(state("z"), 60_000),
    ]);
    assert.deepEqual(results, [false, true, true]);
    assert.deepEqual(await entries(kv), { z: "running" });
  });
});

Deno.test("job store - one deadline message reaps every job of its batch still running", async () => {
  await withKv(async (kv) => {
    const jobs = new JobStore(kv, { lingerMs: 20 });
    const reaped: string[] = [];
    const all = Promise.withResolvers<void>();
    const listening = kv.listenQueue((msg) =>
      jobs.handleMessage(msg, (s) => {
        reaped.push(`${s.id}:${s.status}`);
        if (reaped.length === 2) all.resolve();
      })
    );
    // One commit for the three starts and one deadline message, due well after r2 has finished.
    await Promise.all([
      jobs.start(state("r1"), 500),
      jobs.start(state("r2"), 500),
      jobs.start(state("r3"), 500),
    ]);
    assert.equal(await jobs.finish("r2"), true);
    const timer = setTimeout(() => all.reject(new Error("no deadline within 5 s")), 5000);
    await all.promise;
    clearTimeout(timer);
    assert.deepEqual(reaped.sort(), ["r1:timeout", "r3:timeout"]);
    assert.deepEqual(await entries(kv), {});
    kv.close();
    await listening.catch(() => {});
  });
});

Deno.test("job store - flush writes what is queued without waiting for the linger", async () => {
  await withKv(async (kv) => {
    const jobs = new JobStore(kv, { lingerMs: 60_000 });
    const started = jobs.start(state("f"), 60_000);
    await jobs.flush();
    assert.equal((await jobs.get("f"))?.status, "running");
    assert.equal(await started, true);
  });
});
