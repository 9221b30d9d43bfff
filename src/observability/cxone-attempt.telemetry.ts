import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
} from '@opentelemetry/semantic-conventions';
import { CxoneClient } from '../cxone/cxone.client.js';
import type { AttemptInfo, AttemptRecord } from '../cxone/cxone.types.js';
import { randomSpanId } from '../cxone/trace-context.js';
import { callOutcome, OrchestratorMetrics } from '../metrics/orchestrator-metrics.service.js';
import type { AttemptSpan } from './attempt-span.js';
import { Tracing } from './tracing.service.js';

/** Span attribute names of this service's own spans (no semantic convention covers them). */
export const ATTR = {
  actionId: 'cxone.action_id',
  attempt: 'cxone.attempt',
  outcome: 'cxone.outcome',
  cached: 'cxone.cached',
  circuitState: 'cxone.circuit_state',
  batchId: 'batch.id',
  itemIndex: 'batch.item_index',
} as const;

/**
 * One span per CXone attempt, child of the chunk's span, whose id is the `traceparent` span id
 * CXone receives (so CXone's own logs join the trace); and the attempt metrics: duration by
 * outcome, retries by reason, calls in flight. Hooks into the client's `useSpanIdSource` (attempt
 * starts) and `onAttempt` (attempt ends), both called synchronously around each HTTP call.
 */
@Injectable()
export class CxoneAttemptTelemetry implements OnModuleInit, OnApplicationShutdown {
  /** Spans of attempts under way, by span id. */
  private readonly open = new Map<string, AttemptSpan>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly client: CxoneClient,
    private readonly tracing: Tracing,
    private readonly metrics: OrchestratorMetrics,
  ) {}

  onModuleInit(): void {
    if (!this.tracing.enabled && !this.metrics.enabled) return;
    this.client.useSpanIdSource(this.attemptStarted);
    this.unsubscribe = this.client.onAttempt(this.attemptEnded);
  }

  /** After the drain: calls that finish while the service stops are still recorded. */
  onApplicationShutdown(): void {
    this.unsubscribe?.();
    this.open.clear();
  }

  private readonly attemptStarted = (attempt: AttemptInfo): string => {
    if (attempt.attempts > 1) {
      this.metrics.recordRetry(
        attempt.actionId,
        callOutcome(attempt.lastStatus, attempt.lastErrorCode),
      );
    }
    this.metrics.callsInFlight++;
    if (!this.tracing.enabled) return randomSpanId();

    // Few attributes, on purpose: an attempt span is written per call (thousands a second) and
    // each attribute costs its encoding in every export. The batch id and request id are on
    // the run's span and follow from the item index; the circuit state is written when it is
    // not the usual `closed` (the attempt is the half-open probe).
    const attributes: Record<string, string | number> = {
      [ATTR.actionId]: attempt.actionId,
      [ATTR.attempt]: attempt.attempts,
    };
    if (attempt.itemIndex !== undefined) attributes[ATTR.itemIndex] = attempt.itemIndex;
    if (attempt.circuitState !== 'closed') attributes[ATTR.circuitState] = attempt.circuitState;
    const span = this.tracing.startAttemptSpan(attempt.traceContext, attributes);
    if (span === undefined) return randomSpanId();
    this.open.set(span.id, span);
    return span.id;
  };

  private readonly attemptEnded = (record: AttemptRecord): void => {
    this.metrics.callsInFlight--;
    const outcome = callOutcome(record.status, record.errorCode);
    this.metrics.recordCall(record.actionId, outcome, record.latencyMs / 1000);
    const span = this.open.get(record.spanId);
    if (span === undefined) return;
    this.open.delete(record.spanId);
    const { attributes } = span;
    attributes[ATTR.outcome] = outcome;
    if (record.status !== 0) attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = record.status;
    const failed = outcome !== 'success';
    if (failed) attributes[ATTR_ERROR_TYPE] = record.status !== 0 ? String(record.status) : outcome;
    this.tracing.endAttemptSpan(span, failed);
  };
}
