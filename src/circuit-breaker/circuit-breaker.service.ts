import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { CircuitBreakerOptions } from './circuit-breaker.options.js';
import {
  type CircuitPermit,
  type CircuitState,
  CircuitStateStore,
  type CircuitStatus,
  type CircuitTransition,
} from './circuit-state.store.js';

export type CircuitTransitionListener = (transition: CircuitTransition) => void;

/**
 * One breaker per action id, over a `CircuitStateStore`. Callers ask for a permit before a
 * call and report how it ended with the same permit:
 *
 *     const permit = await breaker.acquire(actionId, leaseMs);   // 'closed' | 'probe' | 'open'
 *     ... call ...  then  recordSuccess / recordFailure / release(actionId, permit)
 *
 * What counts as a failure is the caller's decision (the CXone client: 5xx after retries,
 * timeouts, network errors).
 */
@Injectable()
export class CircuitBreaker {
  private readonly logger = new Logger(CircuitBreaker.name);
  private readonly listeners: CircuitTransitionListener[] = [];
  private readonly threshold: number;
  private readonly openMs: number;
  private lastStoreWarningAt = 0;

  constructor(
    private readonly store: CircuitStateStore,
    private readonly options: CircuitBreakerOptions,
    config: AppConfig,
  ) {
    this.threshold = config.circuit.failureThreshold;
    this.openMs = config.circuit.recoverySeconds * 1000;
  }

  /**
   * `probeLeaseMs`: how long the probe may take before another caller may probe instead.
   * If the store fails (Redis down), the breaker fails open: calls go through.
   */
  async acquire(actionId: string, probeLeaseMs: number): Promise<CircuitPermit> {
    const now = this.options.now();
    const lease = Math.max(probeLeaseMs, this.options.minProbeLeaseMs);
    try {
      const permit = await this.store.tryAcquire(actionId, now, lease);
      if (permit === 'probe') this.emit(actionId, 'open', 'half-open', now);
      return permit;
    } catch (error) {
      this.storeFailed(error);
      return 'closed';
    }
  }

  async recordSuccess(actionId: string, permit: CircuitPermit): Promise<void> {
    try {
      const now = this.options.now();
      const from = await this.store.recordSuccess(actionId, permit === 'probe', now);
      if (from !== null) this.emit(actionId, from, 'closed', now);
    } catch (error) {
      this.storeFailed(error);
    }
  }

  async recordFailure(actionId: string, permit: CircuitPermit): Promise<void> {
    const now = this.options.now();
    const probe = permit === 'probe';
    try {
      const from = await this.store.recordFailure(
        actionId,
        probe,
        now,
        this.threshold,
        this.openMs,
      );
      if (from !== null) this.emit(actionId, from, 'open', now);
    } catch (error) {
      this.storeFailed(error);
    }
  }

  /** The call ended without telling anything about CXone's health (cancelled, no token). */
  async release(actionId: string, permit: CircuitPermit): Promise<void> {
    if (permit !== 'probe') return;
    try {
      await this.store.releaseProbe(actionId);
    } catch (error) {
      this.storeFailed(error);
    }
  }

  state(actionId: string): Promise<CircuitStatus> {
    return this.store.state(actionId, this.options.now());
  }

  /** Every action not closed-and-clean, for metrics. */
  snapshot(): Promise<CircuitStatus[]> {
    return this.store.snapshot(this.options.now());
  }

  /** Every action's breaker (called within the last day, failing, or forced), by action id. */
  list(): Promise<CircuitStatus[]> {
    return this.store.list(this.options.now());
  }

  /**
   * An operator forces the action's circuit open on every replica (`true`: its calls are refused
   * until further notice) or gives it back to the automatic breaker (`false`). `by` names who, for
   * the log.
   */
  async setForced(actionId: string, forced: boolean, by: string): Promise<CircuitStatus> {
    const status = await this.store.setForced(actionId, forced, this.options.now());
    this.logger.warn(
      { action_id: actionId, caller: by, forced },
      forced
        ? `circuit for action ${actionId} forced open by ${by}`
        : `circuit for action ${actionId} set back to automatic by ${by}`,
    );
    return status;
  }

  /** Returns the function that unsubscribes. Listeners must not throw (errors are logged). */
  onTransition(listener: CircuitTransitionListener): () => void {
    this.listeners.push(listener);
    return () => {
      const at = this.listeners.indexOf(listener);
      if (at >= 0) this.listeners.splice(at, 1);
    };
  }

  private storeFailed(error: unknown): void {
    const now = Date.now();
    if (now - this.lastStoreWarningAt < 60_000) return;
    this.lastStoreWarningAt = now;
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.warn(`circuit state store failed, breaker fails open: ${reason}`);
  }

  private emit(actionId: string, from: CircuitState, to: CircuitState, at: number): void {
    if (to === 'open') {
      this.logger.warn(`circuit for action ${actionId} opened (was ${from})`);
    } else if (to === 'closed') {
      this.logger.log(`circuit for action ${actionId} closed`);
    }
    if (this.listeners.length === 0) return;
    const transition: CircuitTransition = { actionId, from, to, at };
    for (const listener of this.listeners) {
      try {
        listener(transition);
      } catch (error) {
        this.logger.error(`circuit transition listener failed: ${String(error)}`);
      }
    }
  }
}
