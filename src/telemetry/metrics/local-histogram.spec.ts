import { DataPointType } from '@opentelemetry/sdk-metrics';
import { LocalHistogram, LocalMetricsProducer } from './local-histogram.js';

describe('LocalHistogram', () => {
  it('counts values into inclusive upper-bound buckets per attribute object', async () => {
    const histogram = new LocalHistogram('call_seconds', 'calls', 's', [0.1, 1]);
    const ok = { outcome: 'success' };
    const slow = { outcome: 'timeout' };
    for (const value of [0.05, 0.1, 0.5, 3]) histogram.record(value, ok);
    histogram.record(2, slow);
    const producer = new LocalMetricsProducer();
    producer.add(histogram);

    const { resourceMetrics } = await producer.collect();
    const [metric] = resourceMetrics.scopeMetrics[0].metrics;
    expect(metric.descriptor).toMatchObject({ name: 'call_seconds', unit: 's' });
    expect(metric.dataPointType).toBe(DataPointType.HISTOGRAM);
    const points = metric.dataPoints.map((point) => [point.attributes, point.value]);
    expect(points).toEqual([
      [
        ok,
        {
          buckets: { boundaries: [0.1, 1], counts: [2, 1, 1] },
          sum: 3.65,
          count: 4,
          min: 0.05,
          max: 3,
        },
      ],
      [
        slow,
        { buckets: { boundaries: [0.1, 1], counts: [0, 0, 1] }, sum: 2, count: 1, min: 2, max: 2 },
      ],
    ]);

    producer.remove(histogram);
    expect((await producer.collect()).resourceMetrics.scopeMetrics[0].metrics).toEqual([]);
  });
});
