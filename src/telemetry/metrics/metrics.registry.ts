import { diag, metrics } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { LocalMetricsProducer } from './local-histogram.js';

let shared: MetricsRegistry | undefined;

/**
 * The process's OpenTelemetry meter provider, read in the Prometheus text format. It is
 * registered as the global provider because nestjs-otel's `MetricService` creates instruments
 * from the global one (and keeps them for the life of the process); so there is one registry
 * per process, not per Nest application.
 */
export class MetricsRegistry {
  // No otel_scope_* labels on every series; target_info keeps the service name.
  private readonly serializer = new PrometheusSerializer('', false, undefined, false, true);

  private constructor(
    private readonly reader: PrometheusExporter,
    /** Histograms recorded outside the SDK (see `LocalHistogram`), read with its metrics. */
    readonly local: LocalMetricsProducer,
  ) {}

  static shared(serviceName: string): MetricsRegistry {
    if (shared === undefined) {
      const local = new LocalMetricsProducer();
      const reader = new PrometheusExporter({
        preventServerStart: true,
        withoutScopeInfo: true,
        metricProducers: [local],
      });
      const provider = new MeterProvider({
        resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }),
        readers: [reader],
      });
      metrics.setGlobalMeterProvider(provider);
      shared = new MetricsRegistry(reader, local);
    }
    return shared;
  }

  /** Every metric, in the Prometheus text exposition format (0.0.4). */
  async scrape(): Promise<string> {
    const { resourceMetrics, errors } = await this.reader.collect();
    // A failing observable (Redis down for the queue depth) leaves that one metric out.
    if (errors.length > 0) diag.warn('metrics collection errors', ...errors);
    return this.serializer.serialize(resourceMetrics);
  }
}
