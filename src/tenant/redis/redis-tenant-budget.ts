import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import type { AppConfig } from '../../config/app-config.js';
import { settlesWithin } from '../../lib/settles-within.js';
import { notReady, type RedisConnection } from '../../redis/redis.connection.js';
import { RoundTrip, type SentUnder } from '../aimd-limit.js';
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
import { ADMIT_4, ASK_4, LIMITS_3, RELEASE_6 } from './redis-tenant.scripts.js';

/**
 * A replica told "full" (the action's limit or the cluster bound all in use) looks again when
 * another replica frees a slot (it says so on the channel), when one of its own ends, and at the
 * latest after this long (a message lost while reconnecting, a dead replica's lease lapsing).
 */
const FULL_RECHECK_MS = 250;
/** After a failed Redis command, the budget answers "not now" for this long (calls wait for Redis). */
const REDIS_RETRY_MS = 250;
/** How often the limits of the actions this replica runs are read again (healing lost messages). */
const REFRESH_MS = 1000;
const WARN_EVERY_MS = 60_000;
const CLOSE_TIMEOUT_MS = 1000;

/** A slot freed elsewhere is worth this many tries at most (the replicas that heard race for it). */
const MAX_TRIES_PER_FREED = 4;

type AdmitReply = [number, string, string, number, number, number];
type StateReply = [number, number, number, string];
type AskReply = [number, number, number, string, number];

interface TenantScripts {
  tenantAdmit(...args: (string | number)[]): Promise<AdmitReply>;
  tenantRelease(...args: (string | number)[]): Promise<StateReply>;
  tenantAsk(...args: (string | number)[]): Promise<AskReply>;
  tenantLimits(...args: (string | number)[]): Promise<(string | number)[]>;
}

/**
 * "Full" as Redis last said (the action's limit, or the cluster bound, all in use), and how many
 * tries the slots freed since then are worth: one each (one of this replica's own, or one another
 * replica announced), so that a freed slot does not set every waiting call asking Redis. A "full"
 * answered to a question asked before the latest free is stale and ignored: that free may be the
 * room the next call needs.
 */
class Fullness {
  private full = false;
  private tries = 0;
  private frees = 0;

  /** Taken when asking Redis; given back with its answer. */
  get mark(): number {
    return this.frees;
  }

  get blocked(): boolean {
    return this.full && this.tries === 0;
  }

  refused(mark: number): void {
    if (mark !== this.frees) return;
    this.full = true;
    this.tries = 0;
  }

  freed(): void {
    this.frees++;
    if (this.full) this.tries = Math.min(this.tries + 1, MAX_TRIES_PER_FREED);
  }

  take(): void {
    if (this.full && this.tries > 0) this.tries--;
  }

  /** Worth trying freely again: room left after a grant, a new limit, the recheck. */
  clear(): void {
    this.frees++;
    this.full = false;
    this.tries = 0;
  }
}

/** What this replica knows of one action: the shared state as last heard, and its own calls. */
class ActionView {
  limit: number | null = null;
  epoch = 0;
  /** Orders the changes heard (a reply and a message may cross); 0: no shared state. */
  version = 0;
  pausedUntil = 0;
  /** Told the limit is all in use: wait for a slot to free. */
  readonly fullness = new Fullness();
  /** This replica's attempts in flight. */
  inFlight = 0;
  readonly leases = new Set<string>();
  readonly roundTrip = new RoundTrip();
  /** This replica's running batches of the action: batch id → max_workers. */
  readonly asks = new Map<string, number>();
  /** What every replica's batches of the action ask, as last read (0: not read yet). */
  clusterAsked = 0;
  /**
   * Leases of calls that just succeeded, kept for this replica's next call of the action in the
   * same turn of the event loop (see `released`); given back to Redis if none takes them.
   */
  readonly spare: { lease: string; sent: SentUnder }[] = [];

  /** This replica's fair part of the action's limit: the limit in proportion to what it asks. */
  share(limit: number): number {
    let asked = 0;
    for (const ask of this.asks.values()) asked += ask;
    const cluster = Math.max(this.clusterAsked, asked);
    return cluster === 0 ? limit : Math.ceil((limit * asked) / cluster);
  }

  constructor(readonly actionId: string) {}
}

class RedisPermit implements TenantPermit {
  private released = false;

  constructor(
    private readonly budget: RedisTenantBudget,
    private readonly view: ActionView,
    private readonly lease: string | null,
    private readonly sent: SentUnder,
  ) {}

  release(result: AttemptResult): void {
    if (this.released) return;
    this.released = true;
    this.budget.released(this.view, this.lease, this.sent, result);
  }
}

/**
 * The tenant budget shared by every replica through Redis. An attempt asks Redis (one script)
 * only when something bounds it: CXONE_TENANT_MAX_CONCURRENCY, CXONE_RATE_LIMIT_PER_SECOND, or an
 * adaptive limit the action has had since CXone first refused it. Until then it goes on this
 * replica's word, and only a refusal or a Retry-After is written. Changes (a pause, a new limit,
 * a freed slot) are published on a channel, so every replica hears of them at once; the limits
 * of the actions it runs are also read again every second.
 */
export class RedisTenantBudget extends TenantBudget implements OnModuleInit, OnApplicationShutdown {
  readonly tenantMaxConcurrency: number | undefined;
  private readonly logger = new Logger(RedisTenantBudget.name);
  private readonly redis: Redis & TenantScripts;
  private readonly adaptive: boolean;
  private readonly rate: StartRateWindow | undefined;
  private readonly leaseMs: number;
  private readonly base: string;
  private readonly channel: string;
  private readonly leasePrefix: string;
  private readonly views = new Map<string, ActionView>();
  /** This replica's leases of the cluster bound. */
  private readonly tenantLeases = new Set<string>();
  private readonly listeners = new Set<() => void>();
  private readonly wake: WakeTimer;
  private subscriber: Redis | undefined;
  private maintenance: NodeJS.Timeout | undefined;
  private recheck: NodeJS.Timeout | undefined;
  private readonly tenantFullness = new Fullness();
  private rateUntil = 0;
  private unavailableUntil = 0;
  private leaseSeq = 0;
  private sparesQueued = false;
  private lastWarningAt = 0;

  constructor(
    private readonly connection: RedisConnection,
    config: AppConfig,
  ) {
    super();
    this.tenantMaxConcurrency = config.tenant.maxConcurrency;
    this.adaptive = config.tenant.adaptiveConcurrency;
    const perSecond = config.tenant.rateLimitPerSecond;
    this.rate = perSecond === undefined ? undefined : new StartRateWindow(perSecond);
    this.leaseMs = config.redis.queueLockSeconds * 1000;
    this.base = `${config.redis.keyPrefix}{tenant}:`;
    this.channel = `${this.base}events`;
    // Unique per instance, also for two budgets in one process (tests).
    this.leasePrefix = `${connection.replicaId}:${randomBytes(3).toString('hex')}:`;
    this.wake = new WakeTimer(() => this.emit());
    const redis = connection.client;
    const define = (name: keyof TenantScripts, lua: string, numberOfKeys: number): void => {
      if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys });
    };
    define('tenantAdmit', ADMIT_4, 4);
    define('tenantRelease', RELEASE_6, 6);
    define('tenantAsk', ASK_4, 4);
    define('tenantLimits', LIMITS_3, 3);
    this.redis = redis as Redis & TenantScripts;
  }

  async onModuleInit(): Promise<void> {
    const subscriber = this.connection.createSubscriber();
    this.subscriber = subscriber;
    subscriber.on('message', (_channel: string, message: string) => this.heard(message));
    // Subscribed in the background: Redis may be down at start (the service starts unready).
    subscriber.subscribe(this.channel).catch((error: unknown) => this.failed(error));
    const every = Math.min(REFRESH_MS, this.leaseMs / 3);
    this.maintenance = setInterval(() => void this.maintain(), every);
    this.maintenance.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.maintenance !== undefined) clearInterval(this.maintenance);
    if (this.recheck !== undefined) clearTimeout(this.recheck);
    this.wake.stop();
    // QUIT waits for a connection: with Redis away it would wait for ever.
    if (this.subscriber !== undefined)
      await settlesWithin(this.subscriber.quit(), CLOSE_TIMEOUT_MS);
    this.subscriber?.disconnect();
  }

  mayTry(actionId: string): boolean {
    const now = Date.now();
    if (this.unavailableUntil > now || this.tenantFullness.blocked) return false;
    if (this.rateUntil > now) return false;
    if (this.rate !== undefined) {
      // This replica's own share of the window, checked before asking Redis for the cluster's.
      const wait = this.rate.waitMs(now);
      if (wait > 0) {
        this.wake.at(now + wait);
        return false;
      }
    }
    const view = this.views.get(actionId);
    if (view === undefined) return true;
    if (view.pausedUntil > now) {
      this.wake.at(view.pausedUntil);
      return false;
    }
    return view.spare.length > 0 || !view.fullness.blocked;
  }

  tryAcquire(actionId: string): TenantPermit | undefined | Promise<TenantPermit | undefined> {
    if (!this.mayTry(actionId)) return undefined;
    const view = this.view(actionId);
    const spare = view.spare.pop();
    if (spare !== undefined) {
      view.inFlight++;
      return new RedisPermit(this, view, spare.lease, { ...spare.sent, epoch: view.epoch });
    }
    if (!this.bounded(view)) {
      view.inFlight++;
      return new RedisPermit(this, view, null, {
        epoch: view.epoch,
        inFlight: view.inFlight,
        atLimit: false,
      });
    }
    this.tenantFullness.take();
    view.fullness.take();
    const marks = { tenant: this.tenantFullness.mark, action: view.fullness.mark };
    const now = Date.now();
    const lease = `${this.leasePrefix}${++this.leaseSeq}`;
    return this.redis
      .tenantAdmit(
        this.leasesKey(),
        this.startsKey(),
        this.stateKey(actionId),
        this.actionLeasesKey(actionId),
        now,
        lease,
        now + this.leaseMs,
        this.tenantMaxConcurrency ?? 0,
        this.rate?.size ?? 0,
        this.rate?.windowMs ?? 0,
        this.adaptive ? '1' : '0',
        this.leaseMs,
      )
      .then(
        (reply) => this.admitted(view, lease, now, marks, reply),
        (error: unknown) => {
          this.failed(error);
          return undefined;
        },
      );
  }

  /** Called by the permit, once. */
  released(view: ActionView, lease: string | null, sent: SentUnder, result: AttemptResult): void {
    view.inFlight--;
    const now = Date.now();
    const pauseUntil =
      result.retryAfterMs !== undefined && result.retryAfterMs > 0 ? now + result.retryAfterMs : 0;
    // At once here; the other replicas hear it from Redis.
    if (pauseUntil > view.pausedUntil) view.pausedUntil = pauseUntil;
    if (result.kind === 'success') view.roundTrip.observe(result.latencyMs);
    const adaptiveStep =
      this.adaptive && (result.kind === 'refused' || (result.kind === 'success' && sent.atLimit));
    let freed = lease;
    if (lease !== null && result.kind === 'success' && this.mayHandOver(view, sent, now)) {
      view.spare.push({ lease, sent });
      this.returnSpares();
      freed = null;
    } else if (lease !== null) {
      view.leases.delete(lease);
      this.tenantLeases.delete(lease);
      // A slot of this replica's is free: worth one more try (the gate dispatches next).
      view.fullness.freed();
      this.tenantFullness.freed();
    }
    if (freed === null && pauseUntil === 0 && !adaptiveStep) return;
    this.report(view, freed, result.kind, sent, pauseUntil, now);
  }

  /**
   * A lease of a call that succeeded may go straight to this replica's next call of the same
   * action (the gate dispatches right after a release), saving the round trip to Redis that would
   * free it and take it again: the count of leases does not change, so no bound can be passed.
   * Not when every start must be counted (CXONE_RATE_LIMIT_PER_SECOND), not across a cut of the
   * limit (the count must come down to it), and not beyond this replica's part of the limit, so
   * that a replica cannot keep the slots from the others.
   */
  private mayHandOver(view: ActionView, sent: SentUnder, now: number): boolean {
    if (this.rate !== undefined || view.pausedUntil > now) return false;
    if (!this.adaptive || view.limit === null || sent.epoch !== view.epoch) return false;
    return view.inFlight < view.share(view.limit);
  }

  /** Leases no call took in this turn of the event loop go back to Redis. */
  private returnSpares(): void {
    if (this.sparesQueued) return;
    this.sparesQueued = true;
    queueMicrotask(() => {
      this.sparesQueued = false;
      const now = Date.now();
      for (const view of this.views.values()) {
        for (const { lease, sent } of view.spare.splice(0)) {
          view.leases.delete(lease);
          this.tenantLeases.delete(lease);
          view.fullness.freed();
          this.tenantFullness.freed();
          // Its outcome was reported already: this only frees the lease.
          this.report(view, lease, 'other', sent, 0, now);
        }
      }
    });
  }

  private report(
    view: ActionView,
    lease: string | null,
    kind: AttemptResult['kind'],
    sent: SentUnder,
    pauseUntil: number,
    now: number,
  ): void {
    const { actionId } = view;
    this.redis
      .tenantRelease(
        this.leasesKey(),
        this.stateKey(actionId),
        this.actionLeasesKey(actionId),
        this.asksKey(actionId),
        this.workersKey(actionId),
        this.actionsKey(),
        now,
        lease ?? '',
        kind,
        sent.epoch,
        sent.inFlight,
        sent.atLimit ? '1' : '0',
        Math.round(view.roundTrip.ms),
        pauseUntil,
        this.tenantMaxConcurrency ?? 0,
        this.adaptive ? '1' : '0',
        this.channel,
        actionId,
        ACTION_STATE_TTL_MS,
      )
      .then(
        (state) => {
          if (this.learn(view, state)) this.emit();
        },
        (error: unknown) => this.failed(error),
      );
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async register(
    actionId: string,
    batchId: string,
    maxWorkers: number,
  ): Promise<DemandRegistration> {
    const view = this.view(actionId);
    view.asks.set(batchId, maxWorkers);
    await this.ask(view, batchId, maxWorkers);
    return {
      update: (workers: number) => {
        if (!view.asks.has(batchId)) return;
        view.asks.set(batchId, workers);
        void this.ask(view, batchId, workers);
      },
      close: () => {
        view.asks.delete(batchId);
        this.redis
          .multi()
          .zrem(this.asksKey(actionId), batchId)
          .hdel(this.workersKey(actionId), batchId)
          .exec()
          .catch((error: unknown) => this.failed(error));
        if (view.asks.size === 0 && view.inFlight === 0) this.views.delete(actionId);
      },
    };
  }

  async limits(actionId: string): Promise<ActionLimits> {
    let reply: (string | number)[];
    try {
      reply = await this.redis.tenantLimits(
        this.stateKey(actionId),
        this.asksKey(actionId),
        this.workersKey(actionId),
        Date.now(),
      );
    } catch (error) {
      throw notReady('The tenant budget', error);
    }
    return this.limitsOf(actionId, reply);
  }

  async snapshot(): Promise<ActionLimits[]> {
    const actionIds = await this.redis.smembers(this.actionsKey());
    const replies = await Promise.all(
      actionIds.map((actionId) =>
        this.redis.tenantLimits(
          this.stateKey(actionId),
          this.asksKey(actionId),
          this.workersKey(actionId),
          Date.now(),
        ),
      ),
    );
    const all = actionIds.map((actionId, i) => this.limitsOf(actionId, replies[i]));
    const gone = all.filter((l) => l.limit === null && l.asks.size === 0 && l.pausedUntil === null);
    if (gone.length > 0) {
      await this.redis.srem(this.actionsKey(), ...gone.map((l) => l.actionId));
    }
    return all.filter((l) => !gone.includes(l));
  }

  private limitsOf(actionId: string, reply: (string | number)[]): ActionLimits {
    const [limit, pausedUntil, ...pairs] = reply;
    const asks = new Map<string, number>();
    for (let i = 0; i + 1 < pairs.length; i += 2) asks.set(String(pairs[i]), Number(pairs[i + 1]));
    const until = Number(pausedUntil);
    return {
      actionId,
      limit: this.adaptive && Number(limit) >= 0 ? Number(limit) : null,
      asks,
      pausedUntil: until > Date.now() ? until : null,
    };
  }

  /** Something bounds this action's attempts beyond this replica's own word. */
  private bounded(view: ActionView): boolean {
    return (
      this.tenantMaxConcurrency !== undefined ||
      this.rate !== undefined ||
      (this.adaptive && view.limit !== null)
    );
  }

  private admitted(
    view: ActionView,
    lease: string,
    now: number,
    marks: { tenant: number; action: number },
    reply: AdmitReply,
  ): TenantPermit | undefined {
    const [granted, reason, value, limit, epoch, version] = reply;
    if (this.learnLimit(view, limit, epoch, version)) this.emit();
    if (granted === 1) {
      this.rate?.take(now);
      view.inFlight++;
      view.leases.add(lease);
      if (this.tenantMaxConcurrency !== undefined) this.tenantLeases.add(lease);
      const held = Number(value);
      const limited = this.adaptive && limit >= 0;
      if (limited && held < limit) view.fullness.clear();
      return new RedisPermit(this, view, lease, {
        epoch,
        inFlight: limited ? held : view.inFlight,
        atLimit: limited && held >= limit,
      });
    }
    if (reason === 'paused') {
      view.pausedUntil = Math.max(view.pausedUntil, Number(value));
    } else if (reason === 'rate') {
      this.rateUntil = Number(value);
      this.wake.at(this.rateUntil);
    } else {
      if (reason === 'tenant') this.tenantFullness.refused(marks.tenant);
      else view.fullness.refused(marks.action);
      this.recheckSoon();
    }
    return undefined;
  }

  private async ask(view: ActionView, batchId: string, maxWorkers: number): Promise<void> {
    const { actionId } = view;
    try {
      const state = await this.redis.tenantAsk(
        this.stateKey(actionId),
        this.asksKey(actionId),
        this.workersKey(actionId),
        this.actionsKey(),
        batchId,
        maxWorkers,
        Date.now() + this.leaseMs,
        this.leaseMs,
        actionId,
        Date.now(),
      );
      view.clusterAsked = Number(state[4]);
      if (this.learn(view, [state[0], state[1], state[2], state[3]])) this.emit();
    } catch (error) {
      this.failed(error);
    }
  }

  /** Takes in a state reply ({limit, epoch, version, pausedUntil}); true when the limit changed. */
  private learn(view: ActionView, [limit, epoch, version, pausedUntil]: StateReply): boolean {
    const until = Number(pausedUntil);
    if (until > view.pausedUntil) view.pausedUntil = until;
    return this.learnLimit(view, limit, epoch, version);
  }

  private learnLimit(view: ActionView, limit: number, epoch: number, version: number): boolean {
    // Version 0 is "no shared state" (never refused, or forgotten after a quiet hour).
    if (version !== 0 && version < view.version) return false;
    const next = limit >= 0 ? limit : null;
    const changed = next !== view.limit;
    view.limit = next;
    view.epoch = epoch;
    view.version = version;
    if (changed) view.fullness.clear();
    return changed;
  }

  /** A message on the channel: `freed\t[action]`, `pause\taction\tuntil`, `limit\taction\tlimit\tepoch\tversion`. */
  private heard(message: string): void {
    const [kind, actionId, ...rest] = message.split('\t');
    if (kind === 'freed') {
      if (actionId === '') this.tenantFullness.freed();
      else {
        const view = this.views.get(actionId);
        if (view === undefined) return;
        view.fullness.freed();
      }
      this.emit();
      return;
    }
    const view = this.views.get(actionId);
    if (view === undefined) return;
    if (kind === 'pause') {
      view.pausedUntil = Math.max(view.pausedUntil, Number(rest[0]));
    } else if (kind === 'limit') {
      const [limit, epoch, version] = rest.map(Number);
      if (this.learnLimit(view, limit, epoch, version)) this.emit();
    }
  }

  private recheckSoon(): void {
    if (this.recheck !== undefined) return;
    this.recheck = setTimeout(() => {
      this.recheck = undefined;
      this.tenantFullness.clear();
      for (const view of this.views.values()) view.fullness.clear();
      this.emit();
    }, FULL_RECHECK_MS);
    this.recheck.unref();
  }

  /** Keeps this replica's leases and asks alive, and reads the limits of its actions again. */
  private async maintain(): Promise<void> {
    const expiry = Date.now() + this.leaseMs;
    const renewals: Promise<unknown>[] = [];
    if (this.tenantLeases.size > 0) {
      renewals.push(
        this.redis
          .multi()
          .zadd(this.leasesKey(), 'XX', ...scored(expiry, this.tenantLeases))
          .pexpire(this.leasesKey(), this.leaseMs)
          .exec(),
      );
    }
    for (const view of this.views.values()) {
      const { actionId } = view;
      if (view.leases.size > 0) {
        renewals.push(
          this.redis
            .multi()
            .zadd(this.actionLeasesKey(actionId), 'XX', ...scored(expiry, view.leases))
            .pexpire(this.actionLeasesKey(actionId), this.leaseMs)
            .exec(),
        );
      }
      // Each ask renewed reads the action's limit and what every replica asks.
      for (const [batchId, workers] of view.asks) renewals.push(this.ask(view, batchId, workers));
    }
    const results = await Promise.allSettled(renewals);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) this.failed(failure.reason);
  }

  private view(actionId: string): ActionView {
    let view = this.views.get(actionId);
    if (view === undefined) {
      view = new ActionView(actionId);
      this.views.set(actionId, view);
    }
    return view;
  }

  private failed(error: unknown): void {
    this.connection.noteFailure(error);
    this.unavailableUntil = Date.now() + REDIS_RETRY_MS;
    this.wake.at(this.unavailableUntil);
    const now = Date.now();
    if (now - this.lastWarningAt < WARN_EVERY_MS) return;
    this.lastWarningAt = now;
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.warn(`Tenant budget: Redis command failed (${reason}); calls wait for Redis`);
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }

  private leasesKey(): string {
    return `${this.base}leases`;
  }
  private startsKey(): string {
    return `${this.base}starts`;
  }
  private actionsKey(): string {
    return `${this.base}actions`;
  }
  private stateKey(actionId: string): string {
    return `${this.base}action:${actionId}`;
  }
  private actionLeasesKey(actionId: string): string {
    return `${this.base}action:${actionId}:leases`;
  }
  private asksKey(actionId: string): string {
    return `${this.base}action:${actionId}:asks`;
  }
  private workersKey(actionId: string): string {
    return `${this.base}action:${actionId}:workers`;
  }
}

function scored(score: number, members: Iterable<string>): (string | number)[] {
  const args: (string | number)[] = [];
  for (const member of members) args.push(score, member);
  return args;
}
