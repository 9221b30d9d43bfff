import { type HrTime, ValueType } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import { emptyResource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  type CollectionResult,
  DataPointType,
  type HistogramMetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';

class Series {
  readonly counts: number[];
  sum = 0;
  count = 0;
  min = Infinity;
  max = -Infinity;

  constructor(buckets: number) {
    this.counts = new Array<number>(buckets).fill(0);
  }
}

/**
 * A cumulative histogram kept per (reused) attribute object, read when metrics are collected
 * (through `LocalMetricsProducer`). A recording is a Map lookup by object identity and a bucket
 * increment; the SDK's synchronous histogram would hash the attribute set on every recording,
 * which matters for the CXone call histogram (one recording per call).
 */
export class LocalHistogram {
  private readonly series = new Map<object, Series>();
  private readonly startTime: HrTime = millisToHrTime(Date.now());

  constructor(
    readonly name: string,
    private readonly description: string,
    private readonly unit: string,
    /** Inclusive upper bounds, ascending; a last bucket takes everything above. */
    private readonly boundaries: readonly number[],
  ) {}

  record(value: number, attributes: object): void {
    let series = this.series.get(attributes);
    if (series === undefined) {
      series = new Series(this.boundaries.length + 1);
      this.series.set(attributes, series);
    }
    const { boundaries } = this;
    let bucket = 0;
    while (bucket < boundaries.length && value > boundaries[bucket]) bucket++;
    series.counts[bucket]++;
    series.sum += value;
    series.count++;
    if (value < series.min) series.min = value;
    if (value > series.max) series.max = value;
  }

  toMetricData(endTime: HrTime): HistogramMetricData {
    const boundaries = [...this.boundaries];
    return {
      descriptor: {
        name: this.name,
        description: this.description,
        unit: this.unit,
        valueType: ValueType.DOUBLE,
      },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: [...this.series].map(([attributes, series]) => ({
        startTime: this.startTime,
        endTime,
        attributes: attributes as Record<string, string | number>,
        value: {
          buckets: { boundaries, counts: [...series.counts] },
          sum: series.sum,
          count: series.count,
          min: series.min,
          max: series.max,
        },
      })),
    };
  }
}

/** The local histograms of the process, collected with the SDK's metrics (Prometheus reader). */
export class LocalMetricsProducer implements MetricProducer {
  private readonly histograms = new Set<LocalHistogram>();

  add(histogram: LocalHistogram): void {
    this.histograms.add(histogram);
  }

  remove(histogram: LocalHistogram): void {
    this.histograms.delete(histogram);
  }

  async collect(): Promise<CollectionResult> {
    const now = millisToHrTime(Date.now());
    return {
      // The reader replaces the resource with the SDK's.
      resourceMetrics: {
        resource: emptyResource(),
        scopeMetrics: [
          {
            scope: { name: 'cxone-orchestrator' },
            metrics: [...this.histograms].map((histogram) => histogram.toMetricData(now)),
          },
        ],
      },
      errors: [],
    };
  }
}
