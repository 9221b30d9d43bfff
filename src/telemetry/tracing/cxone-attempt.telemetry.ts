import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { CxoneClient } from '../../cxone/cxone.client.js';
import type { AttemptInfo, AttemptRecord } from '../../cxone/cxone.types.js';
import { randomSpanId } from '../../lib/trace-context.js';
import { callOutcome, OrchestratorMetrics } from '../metrics/orchestrator-metrics.service.js';
import type { AttemptSpan } from './attempt-span.js';
import { Tracing } from './tracing.service.js';

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

    // Only what varies per attempt, on purpose: an attempt span is written per call (thousands a
    // second) and encoding each attribute in every export is most of tracing's cost. The action
    // and batch ids are on the chunk and run spans above it (a call outside a batch keeps its
    // action id); the circuit state is written when it is not `closed` (the half-open probe).
    // Literal keys (the names in span-attributes.ts), so attempts share V8 hidden classes.
    const attributes: Record<string, string | number> =
      attempt.itemIndex === undefined
        ? { 'cxone.action_id': attempt.actionId, 'cxone.attempt': attempt.attempts }
        : { 'batch.item_index': attempt.itemIndex, 'cxone.attempt': attempt.attempts };
    if (attempt.circuitState !== 'closed') attributes['cxone.circuit_state'] = attempt.circuitState;
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
    // A success is told by its 2xx status; a failure also says how it failed.
    const { attributes } = span;
    if (record.status !== 0) attributes['http.response.status_code'] = record.status;
    const failed = outcome !== 'success';
    if (failed) {
      attributes['cxone.outcome'] = outcome;
      attributes['error.type'] = record.status !== 0 ? String(record.status) : outcome;
    }
    this.tracing.endAttemptSpan(span, failed);
  };
}
