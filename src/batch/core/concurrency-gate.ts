import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../../config/app-config.js';
import type { AttemptAdmission, AttemptPermit, AttemptResult } from '../../cxone/cxone.types.js';
import { DomainError } from '../../lib/domain-error.js';
import { TenantBudget, type TenantPermit } from '../../tenant/tenant-budget.js';
import { FairQueue } from './fair-queue.js';

/** Whose call waits for a slot: slots are shared out by caller, then by batch. */
export interface SlotClaim {
  caller: string;
  batchId: string;
}

/** A slot claim and the action the call is for (the tenant budget bounds actions). */
export interface AttemptClaim extends SlotClaim {
  actionId: string;
}

const NOT_SENT: AttemptResult = { kind: 'not_sent', latencyMs: 0 };
/**
 * Most attempts of one action whose answer from the tenant budget is awaited at once (Redis
 * mode): enough to keep the budget's round trips overlapped, few enough that a full action does
 * not take a pile of process slots while the "no" is on its way.
 */
const MAX_PENDING_PER_ACTION = 4;

/** An attempt waiting for its turn. */
interface Waiter {
  readonly claim: AttemptClaim;
  resolve(permit: AttemptPermit): void;
  reject(error: Error): void;
  /** Its wait was aborted while the tenant budget's answer was on its way. */
  aborted: boolean;
  detach(): void;
}

class GatePermit implements AttemptPermit {
  private released = false;

  constructor(
    private readonly gate: ConcurrencyGate,
    private readonly budgetPermit: TenantPermit,
  ) {}

  release(result: AttemptResult): void {
    if (this.released) return;
    this.released = true;
    this.gate.released(this.budgetPermit, result);
  }
}

/**
 * The turns of CXone attempts in this process: at most CXONE_MAX_CONCURRENCY in flight, all
 * batches and callers together (in Redis mode a replica runs many batches, of many callers,
 * through this one gate). While attempts wait, turns go round-robin to the callers with attempts
 * waiting, then round-robin between that caller's batches (`FairQueue`): a caller's one small
 * batch gets as many turns as another caller's many large ones. A batch never has more than its
 * `max_workers` attempts waiting or in flight.
 *
 * A turn is one attempt, not one item: the CXone client gives it back as soon as the attempt ends,
 * so a retry's backoff or a 429's Retry-After holds no slot, and the retry waits in line again.
 *
 * Tenant budget: once the next waiter is picked, the gate asks the `TenantBudget` (cluster bound,
 * start rate, the action's pause and adaptive limit). An action the budget holds back is passed
 * over, so other actions' waiters go first; the budget says when to look again (`onChange`).
 */
@Injectable()
export class ConcurrencyGate implements OnApplicationShutdown {
  private readonly limit: number;
  private active = 0;
  private readonly queue = new FairQueue<Waiter>();
  /** Tenant budget: attempts picked whose answer from the budget is awaited, by action. */
  private readonly pending = new Map<string, number>();
  private dispatching = false;
  private dispatchAgain = false;
  private readonly unsubscribe: () => void;

  constructor(
    config: AppConfig,
    private readonly budget: TenantBudget,
  ) {
    this.limit = config.cxone.maxConcurrency;
    // Tenant budget: it says when an action it held back may go again.
    this.unsubscribe = budget.onChange(() => this.dispatch());
  }

  /** The turns of one batch's attempts; `waitSignal` aborts their waiting (cancel, hand-back). */
  admission(claim: AttemptClaim, waitSignal?: AbortSignal): AttemptAdmission {
    return { admit: () => this.admit(claim, waitSignal), waitSignal };
  }

  get inFlight(): number {
    return this.active;
  }

  get waiting(): number {
    return this.queue.size;
  }

  onApplicationShutdown(): void {
    this.unsubscribe();
  }

  /** Called by a permit, once: frees the turn and hands it on. */
  released(budgetPermit: TenantPermit, result: AttemptResult): void {
    this.active--;
    // Tenant budget: frees the cluster slot and learns from CXone's answer (pause, limit).
    budgetPermit.release(result);
    this.dispatch();
  }

  private admit(claim: AttemptClaim, signal?: AbortSignal): Promise<AttemptPermit> {
    if (signal?.aborted) return Promise.reject(cancelled());
    return new Promise<AttemptPermit>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.queue.remove(claim.caller, claim.batchId, waiter)) reject(cancelled());
        // Picked already: the budget's answer decides what happens (see settle).
        else waiter.aborted = true;
      };
      const waiter: Waiter = {
        claim,
        resolve,
        reject,
        aborted: false,
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(claim.caller, claim.batchId, waiter);
      this.dispatch();
    });
  }

  /** Hands out free turns, in turn order, to the waiters the tenant budget lets go. */
  private dispatch(): void {
    if (this.dispatching) {
      this.dispatchAgain = true;
      return;
    }
    this.dispatching = true;
    try {
      do {
        this.dispatchAgain = false;
        let refused: Set<string> | undefined;
        // Tenant budget: an action paused, full or already being asked for is passed over.
        const mayGo = ({ claim: { actionId } }: Waiter): boolean =>
          !refused?.has(actionId) &&
          (this.pending.get(actionId) ?? 0) < MAX_PENDING_PER_ACTION &&
          this.budget.mayTry(actionId);
        while (this.active < this.limit) {
          const waiter = this.queue.shift(mayGo);
          if (waiter === undefined) break;
          this.active++;
          const { actionId } = waiter.claim;
          // Tenant budget: asked once the next waiter is picked; answers at once in one process,
          // after a Redis round trip when a cluster-wide bound applies.
          const permit = this.budget.tryAcquire(actionId);
          if (permit instanceof Promise) {
            this.pending.set(actionId, (this.pending.get(actionId) ?? 0) + 1);
            void permit.then((granted) => {
              const left = (this.pending.get(actionId) ?? 1) - 1;
              if (left === 0) this.pending.delete(actionId);
              else this.pending.set(actionId, left);
              this.settle(waiter, granted);
              this.dispatch();
            });
          } else {
            if (permit === undefined) (refused ??= new Set()).add(actionId);
            this.settle(waiter, permit);
          }
        }
      } while (this.dispatchAgain);
    } finally {
      this.dispatching = false;
    }
  }

  private settle(waiter: Waiter, budgetPermit: TenantPermit | undefined): void {
    if (budgetPermit === undefined) {
      // The budget said "not now" (and now says so to mayTry): back to the head of its batch,
      // with its caller's and its batch's turn.
      this.active--;
      if (waiter.aborted) waiter.reject(cancelled());
      else this.queue.unshift(waiter.claim.caller, waiter.claim.batchId, waiter);
      return;
    }
    waiter.detach();
    const permit = new GatePermit(this, budgetPermit);
    if (waiter.aborted) {
      permit.release(NOT_SENT);
      waiter.reject(cancelled());
      return;
    }
    waiter.resolve(permit);
  }
}

function cancelled(): DomainError {
  return new DomainError('CANCELLED', 'call cancelled while waiting for its turn');
}
