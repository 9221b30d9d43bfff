import { LatencyHistogram, latencyBucket } from './latency-histogram.js';

describe('LatencyHistogram', () => {
  it('is all zeros when empty', () => {
    expect(new LatencyHistogram().summary()).toEqual({ p50: 0, p95: 0, max: 0 });
  });

  it('estimates percentiles within a few percent and keeps max exact', () => {
    const histogram = new LatencyHistogram();
    for (let ms = 1; ms <= 1000; ms++) histogram.record(ms);
    const { p50, p95, max } = histogram.summary();
    expect(p50).toBeGreaterThanOrEqual(490);
    expect(p50).toBeLessThanOrEqual(530);
    expect(p95).toBeGreaterThanOrEqual(940);
    expect(p95).toBeLessThanOrEqual(1000);
    expect(max).toBe(1000);
  });

  it('never reports a percentile above max', () => {
    const histogram = new LatencyHistogram();
    histogram.record(53.1);
    histogram.record(49.9);
    const summary = histogram.summary();
    expect(summary.p95).toBeLessThanOrEqual(summary.max);
    expect(summary.max).toBe(53);
  });

  it('puts sub-millisecond calls in the first bucket', () => {
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(0.4)).toBe(0);
    expect(latencyBucket(2)).toBeGreaterThan(0);
  });
});
