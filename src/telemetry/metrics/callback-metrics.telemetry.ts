import { Injectable } from '@nestjs/common';
import { CallbackTelemetry, type AttemptOutcome } from '../../callback/core/callback-telemetry.js';
import { OrchestratorMetrics } from './orchestrator-metrics.service.js';

/** Callback attempts and ended deliveries as metrics. */
@Injectable()
export class CallbackMetricsTelemetry extends CallbackTelemetry {
  constructor(private readonly metrics: OrchestratorMetrics) {
    super();
  }

  attempted(outcome: AttemptOutcome, seconds: number): void {
    this.metrics.recordCallbackAttempt(outcome, seconds);
  }

  ended(outcome: 'delivered' | 'failed', count = 1): void {
    this.metrics.recordCallbackDelivery(outcome, count);
  }
}
