/** Small statistics helpers for the benchmark: percentiles (nearest-rank) and summaries. */

/** Summary of a sample, in the sample's unit. */
export interface Summary {
  n: number;
  min: number;
  p50: number;
  p95: number;
  max: number;
  mean: number;
}

/**
 * Nearest-rank percentile (the smallest value with at least `p`% of the sample at or below it).
 * @param sorted ascending values
 * @param p percent in [0, 100]
 * @returns NaN for an empty sample
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/** Summarises `values` (any order). */
export function summarize(values: readonly number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN;
  return { n: s.length, min: s[0] ?? NaN, p50: percentile(s, 50), p95: percentile(s, 95), max: s[s.length - 1] ?? NaN, mean };
}

/** Rounds to `digits` decimals (for JSON output). */
export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Rounds every field of a summary. */
export function roundSummary(s: Summary, digits = 1): Summary {
  return {
    n: s.n,
    min: round(s.min, digits),
    p50: round(s.p50, digits),
    p95: round(s.p95, digits),
    max: round(s.max, digits),
    mean: round(s.mean, digits),
  };
}
