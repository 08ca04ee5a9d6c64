/** Summary statistics for repeated benchmark samples. */

/** A figure over several runs: the median and the spread around it. */
export interface Stats {
  /** Number of samples. */
  n: number;
  median: number;
  min: number;
  max: number;
  /** 10th and 90th percentiles, linearly interpolated; equal to min/max for small samples. */
  p10: number;
  p90: number;
  /** The samples in the order they were taken. */
  samples: number[];
}

/** The q-quantile (0..1) of sorted values, linearly interpolated between neighbours. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

/** Median and spread of samples; NaN figures for an empty list. */
export function summarize(samples: readonly number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: samples.length,
    median: quantile(sorted, 0.5),
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    p10: quantile(sorted, 0.1),
    p90: quantile(sorted, 0.9),
    samples: [...samples],
  };
}

/** Rounds for display and JSON, keeping `digits` decimals. */
export function round(value: number, digits = 2): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Stats with every number rounded, for printing. */
export function roundStats(stats: Stats, digits = 2): Stats {
  return {
    n: stats.n,
    median: round(stats.median, digits),
    min: round(stats.min, digits),
    max: round(stats.max, digits),
    p10: round(stats.p10, digits),
    p90: round(stats.p90, digits),
    samples: stats.samples.map((s) => round(s, digits)),
  };
}
