import assert from "node:assert/strict";
import { Deadlines, type Waiting } from "./deadlines.ts";
import { sleep } from "../../shared/mod.ts";

/** A wait that runs `onExpire` when its deadline passes. */
function waiting(onExpire: () => void): Waiting {
  return { deadlineAt: 0, expire: onExpire };
}

Deno.test("deadlines - each expires at its time, in deadline order whatever the order added", async () => {
  const d = new Deadlines();
  const t0 = performance.now();
  const fired: [string, number][] = [];
  await new Promise<void>((resolve) => {
    const note = (name: string) =>
      waiting(() => {
        fired.push([name, performance.now() - t0]);
        if (fired.length === 3) resolve();
      });
    d.add(note("late"), 60);
    d.add(note("early"), 20);
    d.add(note("middle"), 40);
  });
  assert.deepEqual(fired.map(([n]) => n), ["early", "middle", "late"]);
  for (const [name, at] of fired) {
    const due = { early: 20, middle: 40, late: 60 }[name]!;
    assert.ok(at >= due - 1, `${name} fired at ${at.toFixed(1)} ms, before its ${due} ms`);
  }
  assert.equal(d.size, 0);
});

Deno.test("deadlines - a cancelled wait never expires; the others still do", async () => {
  const d = new Deadlines();
  const fired: string[] = [];
  const a = waiting(() => fired.push("a"));
  d.add(a, 10);
  d.add(waiting(() => fired.push("b")), 30);
  d.cancel(a);
  await sleep(60);
  assert.deepEqual(fired, ["b"]);
});

Deno.test("deadlines - many waits that end early share one timer", async () => {
  const d = new Deadlines();
  let expired = 0;
  for (let i = 0; i < 1000; i++) {
    const w = waiting(() => expired++);
    d.add(w, 50);
    d.cancel(w);
  }
  assert.equal(d.armed, 1, "one timer for a thousand waits");
  assert.equal(d.size, 0);
  // The timer left armed for them fires once, finds nothing due, and sets no other.
  await sleep(80);
  assert.equal(expired, 0);
  assert.equal(d.armed, 1);
  // A shorter wait than the one armed for moves the timer earlier.
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    d.add(waiting(() => {}), 200);
    d.add(waiting(resolve), 10);
  });
  assert.ok(performance.now() - t0 < 150, "the 10 ms deadline did not wait for the 200 ms one");
  // Armed for 200 ms, moved to 10 ms, then re-armed for the 200 ms one once the 10 ms one fired.
  assert.equal(d.armed, 4);
  await sleep(220);
});

Deno.test("deadlines - with nothing left to wait for, the timer does not hold the process", async () => {
  // A child that adds a 60 s deadline and cancels it must exit at once.
  const url = new URL("./deadlines.ts", import.meta.url).href;
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--ext=ts",
      `import { Deadlines } from "${url}"; const d = new Deadlines();
       const w = { deadlineAt: 0, expire() {} }; d.add(w, 60_000); d.cancel(w);`,
    ],
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.ok(performance.now() - t0 < 30_000, "the child waited for the cancelled deadline");
});
