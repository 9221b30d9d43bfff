import type { AttemptResult } from '../cxone/cxone.types.js';

export type { AttemptResult };

/** An action nobody has used for this long loses its learned limit and pause (it starts afresh). */
export const ACTION_STATE_TTL_MS = 3_600_000;

/** The place of one attempt in the tenant's budget; `release` once, when the attempt has ended. */
export interface TenantPermit {
  release(result: AttemptResult): void;
}

/** An action's limits, as every replica sees them. */
export interface ActionLimits {
  actionId: string;
  /** The adaptive concurrency limit; null until CXone first refuses the action (or adaptation is off). */
  limit: number | null;
  /** `max_workers` of the action's running batches, by batch id: "what the batches ask". */
  asks: ReadonlyMap<string, number>;
  /** Epoch ms until which no new call of the action starts (a 429's Retry-After); null: none. */
  pausedUntil: number | null;
}

/** A running batch's demand on its action (its `max_workers`), withdrawn when the run ends. */
export interface DemandRegistration {
  update(maxWorkers: number): void;
  close(): void;
}

/**
 * What CXone lets the whole cluster do (port): CXONE_TENANT_MAX_CONCURRENCY calls in flight,
 * CXONE_RATE_LIMIT_PER_SECOND starts, each action's pause after a 429 with Retry-After, and each
 * action's adaptive concurrency limit (`AimdLimit`). Bound to `InMemoryTenantBudget` (one
 * process) or `RedisTenantBudget` (shared by every replica).
 *
 * The concurrency gate asks it once it has picked the next waiting attempt in fair order:
 * `mayTry` (synchronous, no I/O: false while the action is paused or known to be full, so the gate
 * passes on to another action's waiter) then `tryAcquire`. A refusal is never retried in a loop:
 * the budget calls the `onChange` listeners when trying again is worth it (a slot freed on another
 * replica, a pause or a rate window ended, the limit rose).
 */
export abstract class TenantBudget {
  /** CXONE_TENANT_MAX_CONCURRENCY, for what batches are told they may use. */
  abstract readonly tenantMaxConcurrency: number | undefined;

  abstract mayTry(actionId: string): boolean;

  /** The permit of one attempt, or undefined when the budget says "not now". Never rejects. */
  abstract tryAcquire(
    actionId: string,
  ): TenantPermit | undefined | Promise<TenantPermit | undefined>;

  /** Subscribes to "worth trying again"; returns the unsubscribe function. */
  abstract onChange(listener: () => void): () => void;

  /** Records what a starting batch asks of its action. Never rejects. */
  abstract register(
    actionId: string,
    batchId: string,
    maxWorkers: number,
  ): Promise<DemandRegistration>;

  abstract limits(actionId: string): Promise<ActionLimits>;

  /** Every action with a limit, a pause or a running batch. */
  abstract snapshot(): Promise<ActionLimits[]>;
}

/** The number shown as an action's concurrency limit: the adaptive one, else what the batches ask. */
export function shownLimit(limits: ActionLimits): number | undefined {
  if (limits.limit !== null) return limits.limit;
  let asked = 0;
  for (const ask of limits.asks.values()) asked += ask;
  return asked > 0 ? asked : undefined;
}
