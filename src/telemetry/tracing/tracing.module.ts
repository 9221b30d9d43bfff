import { Global, Module, type DynamicModule } from '@nestjs/common';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import { CxoneModule } from '../../cxone/cxone.module.js';
import { BatchTelemetry } from '../../batch/core/batch-telemetry.js';
import { OtelBatchTelemetry } from './batch-telemetry.service.js';
import { CxoneAttemptTelemetry } from './cxone-attempt.telemetry.js';
import { HttpTelemetry } from './http-telemetry.js';
import { Tracing, TracingOptions } from './tracing.service.js';

/**
 * Traces (OpenTelemetry, exported over OTLP when configured) of requests, batch runs, chunks
 * and CXone attempts, with the batch metrics and transition log lines that go with them.
 * Needs `OrchestratorMetrics` from the global metrics module.
 */
@Global()
@Module({})
export class ObservabilityModule {
  /** `spanProcessors`: extra span destinations (tests: an in-memory exporter). */
  static register(spanProcessors: SpanProcessor[] = []): DynamicModule {
    return {
      module: ObservabilityModule,
      imports: [CxoneModule],
      providers: [
        {
          provide: TracingOptions,
          useValue: Object.assign(new TracingOptions(), { spanProcessors }),
        },
        Tracing,
        HttpTelemetry,
        CxoneAttemptTelemetry,
        { provide: BatchTelemetry, useClass: OtelBatchTelemetry },
      ],
      exports: [Tracing, HttpTelemetry, BatchTelemetry],
    };
  }
}
