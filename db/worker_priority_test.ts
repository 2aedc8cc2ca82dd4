import assert from "node:assert/strict";
import { openDatabase } from "./client.ts";
import type { WorkerPriorityState } from "./worker_priority.ts";
import { sleep } from "../shared/mod.ts";

const linux = Deno.build.os === "linux";
/** Keeps one CPU busy in the shell itself (no child to orphan), for at most 20 s. */
const BUSY_LOOP = "end=$(($(date +%s) + 20)); while [ $(date +%s) -lt $end ]; do i=0; " +
  "while [ $i -lt 50000 ]; do i=$((i + 1)); done; done";
const SCHED_OTHER = "SCHED_OTHER";
const SCHED_IDLE = "SCHED_IDLE";

/** Thread `tid`'s scheduling policy as the kernel reports it (read by chrt: Deno gates /proc). */
async function policyOf(tid: number): Promise<string> {
  const out = await new Deno.Command("chrt", { args: ["--pid", String(tid)], stderr: "inherit" }).output();
  return new TextDecoder().decode(out.stdout).match(/policy: (\w+)/)![1];
}

async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

Deno.test({
  name:
    "worker priority - PGlite's thread runs at SCHED_IDLE, goes back to normal while a query keeps it busy, then idle again",
  ignore: !linux,
  async fn() {
    const changes: WorkerPriorityState[] = [];
    const db = await openDatabase({
      idlePriority: { intervalMs: 20, lateMs: 50, holdMs: 300, onChange: (s) => changes.push(s) },
    });
    try {
      const priority = db.priority!;
      assert.deepEqual(priority.state, "idle");
      assert.deepEqual(await policyOf(priority.tid), SCHED_IDLE);
      // A query long enough that a ping waits behind it: the watchdog cannot tell it from a
      // starved thread, and gives the thread normal priority either way.
      const [{ n }] = await db.sql`select count(*)::int as n from generate_series(1, 3000000)`;
      assert.deepEqual(n, 3_000_000);
      await until("the thread to be raised", () => changes.includes("normal"));
      assert.deepEqual(await policyOf(priority.tid), SCHED_OTHER);
      // After the hold, a prompt pong lowers it again.
      await until("the thread to be lowered again", () => priority.state === "idle");
      assert.deepEqual(await policyOf(priority.tid), SCHED_IDLE);
      assert.deepEqual(changes.slice(0, 3), ["idle", "normal", "idle"]);
    } finally {
      await db.close();
    }
  },
});

Deno.test({
  name:
    "worker priority - PGlite's idle thread is raised while busy processes starve it, and its queries still answer",
  ignore: !linux,
  async fn() {
    const db = await openDatabase({ idlePriority: { intervalMs: 20, lateMs: 50, holdMs: 60_000 } });
    // One more busy loop than there are CPUs: an idle-policy thread gets almost no CPU now.
    const loops = Array.from({ length: navigator.hardwareConcurrency + 1 }, () =>
      // Killed below; each also ends itself after 20 s should this process die first.
      new Deno.Command("sh", {
        args: ["-c", BUSY_LOOP],
        stdout: "null",
        stderr: "null",
      }).spawn());
    try {
      assert.deepEqual(db.priority!.state, "idle");
      await until("the starved thread to be raised", () => db.priority!.state === "normal");
      assert.deepEqual(await policyOf(db.priority!.tid), SCHED_OTHER);
      const [{ one }] = await db.sql`select 1 as one`;
      assert.deepEqual(one, 1);
    } finally {
      for (const loop of loops) loop.kill("SIGKILL");
      await Promise.all(loops.map((l) => l.status));
      await db.close();
    }
  },
});

Deno.test("worker priority - without chrt the thread keeps its priority, says why, and the database works", async () => {
  const changes: [WorkerPriorityState, string][] = [];
  const db = await openDatabase({
    idlePriority: { chrt: "/nonexistent/chrt", onChange: (s, why) => changes.push([s, why]) },
  });
  try {
    if (!linux) return;
    assert.deepEqual(db.priority!.state, "off");
    assert.deepEqual(changes.length, 1);
    assert.deepEqual(changes[0][0], "off");
    assert.ok(changes[0][1].length > 0);
    assert.deepEqual(await policyOf(db.priority!.tid), SCHED_OTHER);
    const [{ one }] = await db.sql`select 1 as one`;
    assert.deepEqual(one, 1);
  } finally {
    await db.close();
  }
});

Deno.test("worker priority - a database opened without idlePriority leaves PGlite's thread alone", async () => {
  const db = await openDatabase({});
  try {
    assert.deepEqual(db.priority, undefined);
  } finally {
    await db.close();
  }
});

Deno.test({
  name: "worker priority - a process that could not raise the thread again leaves it at normal priority",
  ignore: !linux,
  async fn() {
    // Without CAP_SYS_NICE (a non-root user, or root in a container that drops it) a thread can
    // enter SCHED_IDLE but not leave it: it must not be lowered there.
    const script = `
      import { openDatabase } from ${JSON.stringify(new URL("./client.ts", import.meta.url).href)};
      const why = [];
      const db = await openDatabase({ idlePriority: { onChange: (s, w) => why.push(s + ": " + w) } });
      const out = await new Deno.Command("chrt", { args: ["--pid", String(db.priority.tid)] }).output();
      console.log(JSON.stringify({ state: db.priority.state, why, chrt: new TextDecoder().decode(out.stdout) }));
      await db.close();
    `;
    const out = await new Deno.Command("setpriv", {
      args: ["--inh-caps=-sys_nice", "--bounding-set=-sys_nice", "--", Deno.execPath(), "eval", script],
      stderr: "inherit",
    }).output();
    assert.ok(out.success);
    const { state, why, chrt } = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(state, "off");
    assert.match(why.join("\n"), /^off: could not raise the thread again \(no CAP_SYS_NICE/);
    assert.match(chrt, /policy: SCHED_OTHER/);
  },
});

Deno.test({
  name: "worker priority - two databases opened at once each find their own PGlite thread",
  ignore: !linux,
  async fn() {
    // Other workers starting meanwhile (here: the other database's) do not confuse which thread is
    // whose: each worker names its own.
    const [a, b] = await Promise.all([
      openDatabase({ idlePriority: true }),
      openDatabase({ idlePriority: true }),
    ]);
    try {
      for (const db of [a, b]) assert.notEqual(db.priority!.state, "off");
      assert.notEqual(a.priority!.tid, b.priority!.tid);
      for (const db of [a, b]) {
        const path = `/proc/${Deno.pid}/task/${db.priority!.tid}/comm`;
        const comm = new TextDecoder().decode(
          (await new Deno.Command("cat", { args: [path] }).output()).stdout,
        );
        assert.match(comm, /^worker-/, "a worker thread of this process");
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  },
});
