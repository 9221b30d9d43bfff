import { type Attributes, createNoopMeter, type ObservableGauge } from '@opentelemetry/api';
import type { OnApplicationShutdown } from '@nestjs/common';
import type { ItemOutcome } from '../../batch/core/batch.types.js';
import { ATTEMPT_OUTCOMES } from '../../callback/core/callback-telemetry.js';
import type { CircuitState } from '../../circuit-breaker/circuit-state.store.js';
import type { AppConfig } from '../../config/app-config.js';
import { ActionLabels, AttributeCache, LocalCounter } from './action-labels.js';
import { LocalHistogram, type LocalMetricsProducer } from './local-histogram.js';
import type { MetricService } from './nestjs-otel.js';

/** What became of one CXone attempt (label `outcome` of cxone_call_duration_seconds). */
export type CallOutcome =
  | 'success'
  | 'rate_limited'
  | 'unauthorized'
  | 'client_error'
  | 'server_error'
  | 'timeout'
  | 'network_error'
  | 'cancelled';

/** Classifies an attempt from its HTTP status (0: no response) and error code. */
export function callOutcome(status: number, errorCode: string | undefined): CallOutcome {
  if (status >= 200 && status < 300) return 'success';
  if (status === 429) return 'rate_limited';
  if (status === 401 || status === 403) return 'unauthorized';
  if (status >= 400 && status < 500) return 'client_error';
  if (status !== 0) return 'server_error';
  if (errorCode === 'ETIMEDOUT' || errorCode === 'ECONNABORTED') return 'timeout';
  if (errorCode === 'ERR_CANCELED') return 'cancelled';
  return 'network_error';
}

export type BatchTransition = 'queued' | 'running' | 'completed' | 'cancelled' | 'failed';

const CIRCUIT_GAUGE: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

/** Seconds; from a cache hit to a Retry-After-long call. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const BATCH_DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600];

/**
 * Every metric the service records, with instruments created once (through nestjs-otel's
 * `MetricService`) and attribute objects built once per label combination. With
 * METRICS_ENABLED=false every method returns at once. Built by `MetricsModule`.
 *
 * Labels stay low-cardinality: the action id (capped, see `ActionLabels`), outcomes, states and
 * route templates; never a batch id, item id or raw URL.
 */
export class OrchestratorMetrics implements OnApplicationShutdown {
  readonly enabled: boolean;
  readonly actions = new ActionLabels();
  /** CXone attempts sent and not yet answered (read by the cxone_calls_in_flight gauge). */
  callsInFlight = 0;

  readonly circuitState: ObservableGauge;
  readonly callsInFlightGauge: ObservableGauge;
  readonly queuedItems: ObservableGauge;
  readonly concurrencyLimit: ObservableGauge;
  readonly callbackOldestPendingAge: ObservableGauge;
  readonly callbackPending: ObservableGauge;

  private readonly httpDuration: LocalHistogram;
  private readonly callDuration: LocalHistogram;
  private readonly retries: LocalCounter;
  private readonly circuitTransitions: LocalCounter;
  private readonly tokenRefreshes: LocalCounter;
  private readonly items: LocalCounter;
  private readonly batches: LocalCounter;
  private readonly batchDuration: LocalHistogram;
  private readonly callbackAttempts: LocalCounter;
  private readonly callbackDeliveries: LocalCounter;
  private readonly callbackAttemptDuration: LocalHistogram;
  private readonly histograms: LocalHistogram[] = [];

  private readonly httpAttributes = new Map<string, AttributeCache<Attributes>>();
  private readonly callAttributes = new AttributeCache((action, outcome) => ({ action, outcome }));
  private readonly retryAttributes = new AttributeCache((action, reason) => ({ action, reason }));
  private readonly batchAttributes = new AttributeCache((action, status) => ({ action, status }));
  private readonly itemAttributes = {
    success: new AttributeCache((action, reason) => ({ action, outcome: 'success', reason })),
    failed: new AttributeCache((action, reason) => ({ action, outcome: 'failed', reason })),
    degraded: new AttributeCache((action, reason) => ({ action, outcome: 'degraded', reason })),
    cancelled: new AttributeCache((action, reason) => ({ action, outcome: 'cancelled', reason })),
  };
  private readonly transitionAttributes = new Map<string, AttributeCache<Attributes>>();
  private readonly outcomeAttributes = new Map<string, Attributes>();
  private readonly refreshAttributes = {
    success: Object.freeze({ result: 'success' }),
    failure: Object.freeze({ result: 'failure' }),
  };

  /** `local`: where the histograms are read; absent when metrics are disabled. */
  constructor(
    config: AppConfig,
    metricService: MetricService,
    private readonly local?: LocalMetricsProducer,
  ) {
    this.enabled = config.metrics.enabled && local !== undefined;
    const meter = this.enabled ? undefined : createNoopMeter();
    const histogram = (name: string, description: string, buckets: number[]): LocalHistogram => {
      const created = new LocalHistogram(name, description, 's', buckets);
      if (this.enabled) {
        local?.add(created);
        this.histograms.push(created);
      }
      return created;
    };
    const counter = (name: string, description: string): LocalCounter =>
      new LocalCounter(
        meter?.createObservableCounter(name) ??
          metricService.getObservableCounter(name, { description }),
      );
    const gauge = (name: string, description: string): ObservableGauge =>
      meter?.createObservableGauge(name) ?? metricService.getObservableGauge(name, { description });

    this.httpDuration = histogram(
      'http_server_request_duration_seconds',
      'Time to answer a request to this service, by route template and status code.',
      LATENCY_BUCKETS,
    );
    this.callDuration = histogram(
      'cxone_call_duration_seconds',
      'Duration of each call (attempt) to a CXone data action, by action and outcome.',
      LATENCY_BUCKETS,
    );
    this.retries = counter(
      'cxone_call_retries_total',
      'CXone calls repeated, by the reason the previous attempt failed.',
    );
    this.circuitTransitions = counter(
      'cxone_circuit_transitions_total',
      'Circuit breaker state changes, by action.',
    );
    this.tokenRefreshes = counter(
      'cxone_token_refreshes_total',
      'CXone OAuth token requests, by result.',
    );
    this.items = counter(
      'orchestrator_batch_items_total',
      'Batch items finished, by action, outcome (success, failed, degraded, cancelled) and reason.',
    );
    this.batches = counter(
      'orchestrator_batches_total',
      'Batches entering a status (queued = accepted), by action.',
    );
    this.batchDuration = histogram(
      'orchestrator_batch_duration_seconds',
      'Time from a batch starting to run to its end, by action and final status.',
      BATCH_DURATION_BUCKETS,
    );
    this.circuitState = gauge(
      'cxone_circuit_state',
      'Circuit breaker state per action: 0 closed, 1 half-open, 2 open.',
    );
    this.callsInFlightGauge = gauge(
      'cxone_calls_in_flight',
      'CXone calls sent by this replica and not yet answered.',
    );
    this.queuedItems = gauge(
      'orchestrator_queued_items',
      'Items of accepted batches that have not finished (the intake limit counts these).',
    );
    this.concurrencyLimit = gauge(
      'cxone_concurrency_limit',
      'CXone calls of an action allowed in flight at once across the cluster: the adaptive limit once CXone has refused the action, else what its running batches ask (their max_workers).',
    );
    this.callbackAttempts = counter(
      'orchestrator_callback_attempts_total',
      'Callback POSTs made by this replica, by outcome (success, server_error, timeout, refused_address, …).',
    );
    this.callbackDeliveries = counter(
      'orchestrator_callback_deliveries_total',
      'Callback deliveries ended on this replica, by outcome (delivered, failed).',
    );
    this.callbackAttemptDuration = histogram(
      'orchestrator_callback_attempt_duration_seconds',
      'Duration of each callback attempt, by outcome.',
      LATENCY_BUCKETS,
    );
    this.callbackOldestPendingAge = gauge(
      'orchestrator_callback_oldest_pending_seconds',
      'Age of the oldest callback not yet delivered nor failed, over all replicas (0 when none).',
    );
    this.callbackPending = gauge(
      'orchestrator_callback_pending_deliveries',
      'Callbacks not yet delivered nor failed, over all replicas.',
    );
    if (this.enabled) {
      // Every series exists from the start, at 0: a rate or an alert over them needs no first event.
      for (const outcome of ATTEMPT_OUTCOMES) this.callbackAttempts.add(0, this.outcome(outcome));
      for (const outcome of ['delivered', 'failed'])
        this.callbackDeliveries.add(0, this.outcome(outcome));
    }
  }

  recordHttpRequest(method: string, route: string, statusCode: number, seconds: number): void {
    if (!this.enabled) return;
    let byRoute = this.httpAttributes.get(method);
    if (byRoute === undefined) {
      byRoute = new AttributeCache((path, status) => ({
        method,
        route: path,
        status_code: status,
      }));
      this.httpAttributes.set(method, byRoute);
    }
    this.httpDuration.record(seconds, byRoute.get(route, statusCode));
  }

  recordCall(actionId: string, outcome: CallOutcome, seconds: number): void {
    if (!this.enabled) return;
    this.callDuration.record(seconds, this.callAttributes.get(this.actions.of(actionId), outcome));
  }

  /** A retry of a call whose previous attempt ended with `previous`. */
  recordRetry(actionId: string, previous: CallOutcome): void {
    if (!this.enabled) return;
    this.retries.add(1, this.retryAttributes.get(this.actions.of(actionId), previous));
  }

  recordItem(actionId: string, outcome: ItemOutcome): void {
    if (!this.enabled) return;
    const reason =
      outcome.status === 'success'
        ? outcome.cached
          ? 'cached'
          : 'called'
        : (outcome.reason ?? outcome.errorCode ?? outcome.status);
    this.items.add(1, this.itemAttributes[outcome.status].get(this.actions.of(actionId), reason));
  }

  /** Items a cancel turned from pending to cancelled (they never ran). */
  recordCancelledItems(actionId: string, count: number): void {
    if (!this.enabled || count <= 0) return;
    this.items.add(
      count,
      this.itemAttributes.cancelled.get(this.actions.of(actionId), 'cancelled'),
    );
  }

  recordBatch(actionId: string, status: BatchTransition, runSeconds?: number): void {
    if (!this.enabled) return;
    const attributes = this.batchAttributes.get(this.actions.of(actionId), status);
    this.batches.add(1, attributes);
    if (runSeconds !== undefined) this.batchDuration.record(runSeconds, attributes);
  }

  recordCallbackAttempt(outcome: string, seconds: number): void {
    if (!this.enabled) return;
    const attributes = this.outcome(outcome);
    this.callbackAttempts.add(1, attributes);
    this.callbackAttemptDuration.record(seconds, attributes);
  }

  recordCallbackDelivery(outcome: 'delivered' | 'failed', count = 1): void {
    if (!this.enabled) return;
    this.callbackDeliveries.add(count, this.outcome(outcome));
  }

  /** `{outcome}`, built once per value. */
  private outcome(outcome: string): Attributes {
    let attributes = this.outcomeAttributes.get(outcome);
    if (attributes === undefined) {
      attributes = Object.freeze({ outcome });
      this.outcomeAttributes.set(outcome, attributes);
    }
    return attributes;
  }

  recordCircuitTransition(actionId: string, from: CircuitState, to: CircuitState): void {
    if (!this.enabled) return;
    const action = this.actions.of(actionId);
    let byFrom = this.transitionAttributes.get(action);
    if (byFrom === undefined) {
      byFrom = new AttributeCache((f, t) => ({ action, from: f, to: t }));
      this.transitionAttributes.set(action, byFrom);
    }
    this.circuitTransitions.add(1, byFrom.get(from, to));
  }

  recordTokenRefresh(result: 'success' | 'failure'): void {
    if (!this.enabled) return;
    this.tokenRefreshes.add(1, this.refreshAttributes[result]);
  }

  /** Metrics stop reporting: a later application in the same process reports its own. */
  onApplicationShutdown(): void {
    for (const histogram of this.histograms) this.local?.remove(histogram);
    for (const counter of [
      this.retries,
      this.circuitTransitions,
      this.tokenRefreshes,
      this.items,
      this.batches,
      this.callbackAttempts,
      this.callbackDeliveries,
    ]) {
      counter.detach();
    }
  }

  static circuitGaugeValue(state: CircuitState): number {
    return CIRCUIT_GAUGE[state];
  }
}
