import { Global, Module, type DynamicModule, type Provider } from '@nestjs/common';
import { AppConfig } from '../../config/app-config.js';
import { CallbackTelemetry } from '../../callback/core/callback-telemetry.js';
import { CallbackMetricsTelemetry } from './callback-metrics.telemetry.js';
import { CxoneModule } from '../../cxone/cxone.module.js';
import { TenantModule } from '../../tenant/tenant.module.js';
import { MetricsCollector } from './metrics.collector.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsRegistry } from './metrics.registry.js';
import { MetricsServer } from './metrics.server.js';
import { MetricService, OpenTelemetryModule } from './nestjs-otel.js';
import { OrchestratorMetrics } from './orchestrator-metrics.service.js';

function metricsProviders(config: AppConfig): Provider[] {
  if (!config.metrics.enabled) {
    return [
      {
        provide: OrchestratorMetrics,
        useFactory: (metricService: MetricService) =>
          new OrchestratorMetrics(config, metricService),
        inject: [MetricService],
      },
    ];
  }
  return [
    { provide: MetricsRegistry, useFactory: () => MetricsRegistry.shared(config.otel.serviceName) },
    {
      // Injects the registry so the global meter provider exists before nestjs-otel creates
      // (and keeps) the instruments; its local producer reads the histograms.
      provide: OrchestratorMetrics,
      useFactory: (metricService: MetricService, registry: MetricsRegistry) =>
        new OrchestratorMetrics(config, metricService, registry.local),
      inject: [MetricService, MetricsRegistry],
    },
    ...(config.metrics.port === undefined ? [] : [MetricsServer]),
  ];
}

/**
 * Prometheus metrics at GET /metrics (public), recorded through nestjs-otel's `MetricService`
 * into the OpenTelemetry SDK: on the API port, or only on METRICS_PORT when that is set. With
 * METRICS_ENABLED=false nothing is recorded and the route does not exist.
 */
@Global()
@Module({})
export class MetricsModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: MetricsModule,
      imports: [
        OpenTelemetryModule.forRoot({ metrics: { hostMetrics: false } }),
        CxoneModule,
        TenantModule,
      ],
      controllers:
        config.metrics.enabled && config.metrics.port === undefined ? [MetricsController] : [],
      providers: [
        ...metricsProviders(config),
        MetricsCollector,
        { provide: CallbackTelemetry, useClass: CallbackMetricsTelemetry },
      ],
      exports: [OrchestratorMetrics, CallbackTelemetry],
    };
  }
}
