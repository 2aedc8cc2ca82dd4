// The earnings chart's numbers: the days it shows and the scale of its bars.
import type { EarningsDay } from "../../db/mod.ts";

/** One bar: a UTC day and what it earned (nano-USD). */
export interface ChartDay {
  day: string;
  earned: bigint;
  jobs: number;
}

const DAY_MS = 86_400_000;

/** The last `days` UTC days up to `today`, oldest first, with zero for days without earnings. */
export function chartDays(earned: EarningsDay[], opts: { today: Date; days: number }): ChartDay[] {
  const byDay = new Map(earned.map((d) => [d.day, d]));
  const end = Date.UTC(opts.today.getUTCFullYear(), opts.today.getUTCMonth(), opts.today.getUTCDate());
  return Array.from({ length: opts.days }, (_, i) => {
    const day = new Date(end - (opts.days - 1 - i) * DAY_MS).toISOString().slice(0, 10);
    const seen = byDay.get(day);
    return { day, earned: seen?.earned ?? 0n, jobs: seen?.jobs ?? 0 };
  });
}

/** The smallest 1, 2 or 5 × 10^k nano-USD at or above `max` (the chart's top), at least 1. */
export function axisTop(max: bigint): bigint {
  for (let unit = 1n;; unit *= 10n) {
    for (const step of [1n, 2n, 5n]) if (step * unit >= max) return step * unit;
  }
}

/** A bar's height in chart units, proportional to its amount (2 decimals). */
export function barHeight(earned: bigint, top: bigint, plotHeight: number): number {
  if (top <= 0n || earned <= 0n) return 0;
  return Number((earned * BigInt(plotHeight) * 100n) / top) / 100;
}
