import type { OnApplicationShutdown } from '@nestjs/common';
import type { AppConfig } from '../../config/app-config.js';
import { AimdLimit, RoundTrip, type SentUnder } from '../aimd-limit.js';
import { StartRateWindow } from '../start-rate-window.js';
import {
  ACTION_STATE_TTL_MS,
  type ActionLimits,
  type AttemptResult,
  type DemandRegistration,
  TenantBudget,
  type TenantPermit,
} from '../tenant-budget.js';
import { WakeTimer } from '../wake-timer.js';

class ActionState {
  readonly aimd: AimdLimit;
  readonly roundTrip = new RoundTrip();
  readonly asks = new Map<string, number>();
  inFlight = 0;
  pausedUntil = 0;
  usedAt: number;

  constructor(
    readonly actionId: string,
    now: () => number,
  ) {
    this.aimd = new AimdLimit(now);
    this.usedAt = now();
  }

  asked(): number {
    let total = 0;
    for (const ask of this.asks.values()) total += ask;
    return total;
  }
}

class InMemoryPermit implements TenantPermit {
  private released = false;

  constructor(
    private readonly budget: InMemoryTenantBudget,
    private readonly action: ActionState,
    private readonly sent: SentUnder,
  ) {}

  release(result: AttemptResult): void {
    if (this.released) return;
    this.released = true;
    this.budget.released(this.action, this.sent, result);
  }
}

/**
 * The tenant budget of one process (the memory and sqlite stores): the same bounds, kept here.
 * A release needs no signal: the gate dispatches after every release anyway; only the end of a
 * pause or of a full rate window is announced (by timer).
 */
export class InMemoryTenantBudget extends TenantBudget implements OnApplicationShutdown {
  readonly tenantMaxConcurrency: number | undefined;
  private readonly adaptive: boolean;
  private readonly rate: StartRateWindow | undefined;
  private readonly actions = new Map<string, ActionState>();
  private readonly listeners = new Set<() => void>();
  private readonly wake: WakeTimer;
  private tenantInFlight = 0;

  constructor(
    config: AppConfig,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.tenantMaxConcurrency = config.tenant.maxConcurrency;
    this.adaptive = config.tenant.adaptiveConcurrency;
    const perSecond = config.tenant.rateLimitPerSecond;
    this.rate = perSecond === undefined ? undefined : new StartRateWindow(perSecond);
    this.wake = new WakeTimer(() => this.emit(), now);
  }

  mayTry(actionId: string): boolean {
    const max = this.tenantMaxConcurrency;
    if (max !== undefined && this.tenantInFlight >= max) return false;
    const now = this.now();
    if (this.rate !== undefined) {
      const wait = this.rate.waitMs(now);
      if (wait > 0) {
        this.wake.at(now + wait);
        return false;
      }
    }
    const action = this.actions.get(actionId);
    if (action === undefined) return true;
    if (action.pausedUntil > now) {
      this.wake.at(action.pausedUntil);
      return false;
    }
    const limit = action.aimd.limit;
    return limit === null || action.inFlight < limit;
  }

  tryAcquire(actionId: string): TenantPermit | undefined {
    if (!this.mayTry(actionId)) return undefined;
    this.rate?.take(this.now());
    const action = this.action(actionId);
    action.inFlight++;
    this.tenantInFlight++;
    return new InMemoryPermit(this, action, action.aimd.sent(action.inFlight));
  }

  /** Called by the permit, once. */
  released(action: ActionState, sent: SentUnder, result: AttemptResult): void {
    action.inFlight--;
    this.tenantInFlight--;
    const now = this.now();
    action.usedAt = now;
    if (result.retryAfterMs !== undefined && result.retryAfterMs > 0) {
      action.pausedUntil = Math.max(action.pausedUntil, now + result.retryAfterMs);
    }
    if (!this.adaptive) return;
    if (result.kind === 'success') {
      action.roundTrip.observe(result.latencyMs);
      action.aimd.succeeded(sent, action.asked());
    } else if (result.kind === 'refused') {
      action.aimd.refused(sent, action.roundTrip.ms);
    }
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  register(actionId: string, batchId: string, maxWorkers: number): Promise<DemandRegistration> {
    this.forgetQuietActions();
    const action = this.action(actionId);
    action.asks.set(batchId, maxWorkers);
    return Promise.resolve({
      update: (workers: number) => {
        if (action.asks.has(batchId)) action.asks.set(batchId, workers);
      },
      close: () => {
        action.asks.delete(batchId);
        action.usedAt = this.now();
      },
    });
  }

  limits(actionId: string): Promise<ActionLimits> {
    const action = this.actions.get(actionId);
    return Promise.resolve(
      action === undefined
        ? { actionId, limit: null, asks: new Map(), pausedUntil: null }
        : this.limitsOf(action),
    );
  }

  snapshot(): Promise<ActionLimits[]> {
    return Promise.resolve([...this.actions.values()].map((action) => this.limitsOf(action)));
  }

  onApplicationShutdown(): void {
    this.wake.stop();
  }

  private limitsOf(action: ActionState): ActionLimits {
    return {
      actionId: action.actionId,
      limit: action.aimd.limit,
      asks: new Map(action.asks),
      pausedUntil: action.pausedUntil > this.now() ? action.pausedUntil : null,
    };
  }

  private action(actionId: string): ActionState {
    let action = this.actions.get(actionId);
    if (action === undefined) {
      action = new ActionState(actionId, this.now);
      this.actions.set(actionId, action);
    }
    return action;
  }

  private forgetQuietActions(): void {
    const before = this.now() - ACTION_STATE_TTL_MS;
    for (const [actionId, action] of this.actions) {
      if (action.inFlight === 0 && action.asks.size === 0 && action.usedAt < before) {
        this.actions.delete(actionId);
      }
    }
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}
