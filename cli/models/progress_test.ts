import assert from "node:assert/strict";
import { formatDuration, formatProgress, ProgressBar } from "./progress.ts";

Deno.test("progress - a line shows percent, bytes, speed and ETA", () => {
  const line = formatProgress({
    label: "m.gguf",
    doneBytes: 1_200_000_000,
    totalBytes: 2_600_000_000,
    bytesPerSec: 35_000_000,
  }, 10);
  assert.equal(line, "m.gguf  46% [#####-----] 1.20 GB / 2.60 GB  35.0 MB/s  ETA 0:40");
  assert.equal(formatDuration(3725), "1:02:05");
});

Deno.test("progress - redraws at most every 100 ms on a terminal, then writes one final line", () => {
  let now = 0;
  const out: string[] = [];
  const bar = new ProgressBar("m.gguf", { write: (t) => out.push(t), isTerminal: true, now: () => now });
  for (const [t, bytes] of [[0, 0], [50, 100], [100, 200], [150, 300], [199, 400], [210, 500]]) {
    now = t;
    bar.update(bytes, 1000);
  }
  assert.equal(out.length, 3, "at 0, 100 and 210 ms");
  assert.ok(out.every((l) => l.startsWith("\r\x1b[2K")));
  now = 1000;
  bar.finish();
  assert.equal(out.at(-1), "\r\x1b[2Km.gguf  done 500 B in 0:01 (500 B/s)\n");
});

Deno.test("progress - off a terminal only the final line is written", () => {
  const out: string[] = [];
  let now = 0;
  const bar = new ProgressBar("m.gguf", { write: (t) => out.push(t), isTerminal: false, now: () => now });
  bar.update(0, 10);
  now = 2000;
  bar.update(10, 10);
  bar.finish();
  assert.deepEqual(out, ["m.gguf  done 10 B in 0:02 (5 B/s)\n"]);
});
