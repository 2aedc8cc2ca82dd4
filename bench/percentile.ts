// The benches' one percentile: nearest rank over a sorted sample, so p99 of 100 runs is the slowest.

/** The `p`th percentile (0–100) of ascending `sorted` samples, by nearest rank; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
