// The download progress bar on stderr: bytes, percent, speed and ETA, redrawn at most every
// 100 ms on a terminal, then one final line. Off a terminal only the final line is written, so
// logs stay readable.
import { formatBytes } from "./quant.ts";

/** One frame of the bar. */
export interface ProgressFrame {
  label: string;
  doneBytes: number;
  totalBytes: number | null;
  bytesPerSec: number;
}

/** Where the bar goes and how time is read; each defaults to the real thing. */
export interface ProgressBarOptions {
  write?: (text: string) => void;
  isTerminal?: boolean;
  now?: () => number;
  /** Minimum time between redraws (default 100 ms, i.e. at most 10 per second). */
  intervalMs?: number;
  width?: number;
}

const encoder = new TextEncoder();
const BAR_WIDTH = 24;

/** Formats seconds as m:ss or h:mm:ss. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** Renders one line: `label  45% [#########...] 1.20 GB / 2.60 GB  34.5 MB/s  ETA 0:41`. */
export function formatProgress(frame: ProgressFrame, width = BAR_WIDTH): string {
  const { label, doneBytes, totalBytes, bytesPerSec } = frame;
  const speed = `${formatBytes(Math.round(bytesPerSec))}/s`;
  if (!totalBytes) return `${label}  ${formatBytes(doneBytes)}  ${speed}`;
  const ratio = Math.min(1, doneBytes / totalBytes);
  const filled = Math.round(ratio * width);
  const bar = "#".repeat(filled) + "-".repeat(width - filled);
  const eta = bytesPerSec > 0 ? formatDuration((totalBytes - doneBytes) / bytesPerSec) : "--:--";
  const pct = `${Math.floor(ratio * 100)}%`.padStart(4);
  return `${label} ${pct} [${bar}] ${formatBytes(doneBytes)} / ${
    formatBytes(totalBytes)
  }  ${speed}  ETA ${eta}`;
}

/** A throttled progress bar for one transfer. */
export class ProgressBar {
  #label: string;
  #write: (text: string) => void;
  #tty: boolean;
  #now: () => number;
  #intervalMs: number;
  #width: number;
  #startMs: number;
  #startBytes: number | null = null;
  #lastDrawMs = -Infinity;
  #last: { doneBytes: number; totalBytes: number | null } = { doneBytes: 0, totalBytes: null };

  constructor(label: string, opts: ProgressBarOptions = {}) {
    this.#label = label;
    this.#write = opts.write ?? ((text) => Deno.stderr.writeSync(encoder.encode(text)));
    this.#tty = opts.isTerminal ?? Deno.stderr.isTerminal();
    this.#now = opts.now ?? (() => performance.now());
    this.#intervalMs = opts.intervalMs ?? 100;
    this.#width = opts.width ?? BAR_WIDTH;
    this.#startMs = this.#now();
  }

  #speed(doneBytes: number): number {
    const seconds = (this.#now() - this.#startMs) / 1000;
    // Speed of this run only: bytes resumed from an earlier run are not counted.
    return seconds > 0 ? (doneBytes - (this.#startBytes ?? doneBytes)) / seconds : 0;
  }

  /** Records progress; redraws when the interval has passed (terminal only). */
  update(doneBytes: number, totalBytes: number | null): void {
    this.#startBytes ??= doneBytes;
    this.#last = { doneBytes, totalBytes };
    if (!this.#tty) return;
    const now = this.#now();
    if (now - this.#lastDrawMs < this.#intervalMs) return;
    this.#lastDrawMs = now;
    const line = formatProgress({
      label: this.#label,
      doneBytes,
      totalBytes,
      bytesPerSec: this.#speed(doneBytes),
    }, this.#width);
    this.#write(`\r\x1b[2K${line}`);
  }

  /** Writes the final line (`label  done  2.60 GB in 1:15 (34.5 MB/s)`), or a stop note. */
  finish(outcome: "done" | "stopped" = "done"): void {
    // Stopped before any byte (refused, unreachable): the error says it all.
    if (outcome === "stopped" && this.#startBytes === null) return;
    const { doneBytes } = this.#last;
    const seconds = (this.#now() - this.#startMs) / 1000;
    const clear = this.#tty ? "\r\x1b[2K" : "";
    const speed = `${formatBytes(Math.round(this.#speed(doneBytes)))}/s`;
    const what = outcome === "done" ? "done" : "stopped at";
    this.#write(
      `${clear}${this.#label}  ${what} ${formatBytes(doneBytes)} in ${formatDuration(seconds)} (${speed})\n`,
    );
  }
}
