import { Module, ValidationPipe, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import type { DestinationStream } from 'pino';
import { BatchModule } from './batch/batch.module.js';
import { CallerGuard } from './callers/caller.guard.js';
import { CallersModule } from './callers/callers.module.js';
import { ProblemDetailsFilter } from './http/problem-details.filter.js';
import { toValidationError } from './http/validation.js';
import type { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { HealthModule } from './health/health.module.js';
import { LoggingModule } from './telemetry/logging/logging.module.js';
import { HttpLatencyInterceptor } from './telemetry/metrics/http-latency.interceptor.js';
import { MetricsModule } from './telemetry/metrics/metrics.module.js';
import { ObservabilityModule } from './telemetry/tracing/tracing.module.js';

/** Test-only hooks: where spans and log lines go besides their configured destinations. */
export interface TelemetryOverrides {
  spanProcessors?: SpanProcessor[];
  logDestination?: DestinationStream;
}

@Module({})
export class AppModule {
  static register(config: AppConfig, overrides: TelemetryOverrides = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule.forRoot(config, { destination: overrides.logDestination }),
        MetricsModule.register(config),
        ObservabilityModule.register(overrides.spanProcessors),
        HealthModule,
        CallersModule.register(),
        BatchModule.register(config),
      ],
      providers: [
        { provide: APP_FILTER, useClass: ProblemDetailsFilter },
        { provide: APP_GUARD, useClass: CallerGuard },
        { provide: APP_INTERCEPTOR, useClass: HttpLatencyInterceptor },
        {
          provide: APP_PIPE,
          useValue: new ValidationPipe({
            transform: true,
            whitelist: true,
            forbidNonWhitelisted: true,
            exceptionFactory: toValidationError,
          }),
        },
      ],
    };
  }
}
