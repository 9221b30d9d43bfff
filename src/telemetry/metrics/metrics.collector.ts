import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { ObservableCallback } from '@opentelemetry/api';
import { TokenManager } from '../../auth/token-manager.service.js';
import { BatchQueue } from '../../batch/core/batch.queue.js';
import { CallbackOutbox } from '../../callback/core/callback-outbox.js';
import { CircuitBreaker } from '../../circuit-breaker/circuit-breaker.service.js';
import { shownLimit, TenantBudget } from '../../tenant/tenant-budget.js';
import { OTHER_ACTION } from './action-labels.js';
import { OrchestratorMetrics } from './orchestrator-metrics.service.js';

/**
 * Feeds the metrics that come from other services' events and state: circuit transitions and
 * states, token refreshes, calls in flight, the actions' concurrency limits and the queue depth
 * (read at scrape time).
 */
@Injectable()
export class MetricsCollector implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(MetricsCollector.name);
  private readonly cleanups: (() => void)[] = [];

  constructor(
    private readonly metrics: OrchestratorMetrics,
    private readonly breaker: CircuitBreaker,
    private readonly tokens: TokenManager,
    private readonly budget: TenantBudget,
    private readonly moduleRef: ModuleRef,
  ) {}

  onApplicationBootstrap(): void {
    const { metrics } = this;
    if (!metrics.enabled) return;
    this.cleanups.push(
      this.breaker.onTransition(({ actionId, from, to }) =>
        metrics.recordCircuitTransition(actionId, from, to),
      ),
      this.tokens.onRefresh((result) => metrics.recordTokenRefresh(result)),
    );

    this.observe(metrics.callsInFlightGauge, (result) => result.observe(metrics.callsInFlight));
    this.observe(metrics.circuitState, async (result) => {
      // Actions seen and absent from the snapshot are closed with no failures.
      const states = new Map<string, number>();
      for (const action of metrics.actions.known()) states.set(action, 0);
      for (const status of await this.breaker.snapshot()) {
        const label = metrics.actions.of(status.actionId);
        if (label !== OTHER_ACTION) {
          states.set(label, OrchestratorMetrics.circuitGaugeValue(status.state));
        }
      }
      for (const [action, value] of states) result.observe(value, { action });
    });
    this.observe(metrics.concurrencyLimit, async (result) => {
      // Redis away: no figure this scrape rather than a failed collection.
      const snapshot = await this.budget.snapshot().catch(() => []);
      for (const limits of snapshot) {
        const value = shownLimit(limits);
        const label = metrics.actions.of(limits.actionId);
        if (value !== undefined && label !== OTHER_ACTION) result.observe(value, { action: label });
      }
    });
    // The queue lives in the batch module (in memory, or BullMQ on Redis); absent in apps built
    // without it.
    const queue = this.batchQueue();
    if (queue) {
      this.observe(metrics.queuedItems, async (result) =>
        result.observe(await queue.queuedItems()),
      );
    } else {
      this.logger.debug('No batch queue: orchestrator_queued_items is not reported');
    }
    const outbox = this.optional(CallbackOutbox);
    if (outbox) {
      // One read per scrape for both gauges (the SDK calls them together); a store that does
      // not answer leaves them out of that scrape rather than reporting 0.
      let reading: Promise<{ count: number; oldestSince: number | undefined } | undefined>;
      let readAt = 0;
      const read = () => {
        if (Date.now() - readAt > 100) {
          readAt = Date.now();
          reading = outbox.pendingSummary().catch(() => undefined);
        }
        return reading;
      };
      this.observe(metrics.callbackPending, async (result) => {
        const pending = await read();
        if (pending) result.observe(pending.count);
      });
      this.observe(metrics.callbackOldestPendingAge, async (result) => {
        const pending = await read();
        if (!pending) return;
        const since = pending.oldestSince;
        result.observe(since === undefined ? 0 : Math.max(0, (Date.now() - since) / 1000));
      });
    }
  }

  onApplicationShutdown(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
  }

  private batchQueue(): BatchQueue | undefined {
    return this.optional(BatchQueue);
  }

  /** A provider of the batch module, absent in apps built without it. */
  private optional<T>(token: abstract new (...args: never[]) => T): T | undefined {
    try {
      return this.moduleRef.get(token, { strict: false });
    } catch {
      return undefined;
    }
  }

  private observe(gauge: OrchestratorMetrics['circuitState'], callback: ObservableCallback): void {
    gauge.addCallback(callback);
    this.cleanups.push(() => gauge.removeCallback(callback));
  }
}
