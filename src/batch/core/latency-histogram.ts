import type { LatencySummary } from './batch.types.js';

// Log-spaced buckets: each is 5 % wider than the last, so a percentile is within ~2.5 % of the
// truth while one batch's histogram stays a few hundred counters whatever its size.
const GROWTH = Math.log(1.05);

export function latencyBucket(ms: number): number {
  return ms <= 1 ? 0 : Math.ceil(Math.log(ms) / GROWTH);
}

function bucketUpperBound(bucket: number): number {
  return bucket === 0 ? 1 : Math.exp(bucket * GROWTH);
}

/** p50 / p95 from bucket counts, max exact; all in whole milliseconds. */
export function summarizeLatency(counts: Map<number, number>, max: number): LatencySummary {
  let total = 0;
  for (const count of counts.values()) total += count;
  if (total === 0) return { p50: 0, p95: 0, max: 0 };
  const roundedMax = Math.round(max);
  const buckets = [...counts.keys()].sort((a, b) => a - b);
  const quantile = (q: number): number => {
    const rank = Math.ceil(q * total);
    let seen = 0;
    for (const bucket of buckets) {
      seen += counts.get(bucket) ?? 0;
      if (seen >= rank) return Math.min(Math.round(bucketUpperBound(bucket)), roundedMax);
    }
    return roundedMax;
  };
  return { p50: quantile(0.5), p95: quantile(0.95), max: roundedMax };
}

export class LatencyHistogram {
  private readonly counts = new Map<number, number>();
  private max = 0;

  record(ms: number): void {
    const bucket = latencyBucket(ms);
    this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + 1);
    if (ms > this.max) this.max = ms;
  }

  summary(): LatencySummary {
    return summarizeLatency(this.counts, this.max);
  }
}
