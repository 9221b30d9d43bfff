import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../../config/app-config.js';
import type { AttemptAdmission, AttemptPermit, AttemptResult } from '../../cxone/cxone.types.js';
import { DomainError } from '../../lib/domain-error.js';
import { TenantBudget, type TenantPermit } from '../../tenant/tenant-budget.js';

const NOT_SENT: AttemptResult = { kind: 'not_sent', latencyMs: 0 };
/**
 * Most attempts of one action whose answer from the tenant budget is awaited at once (Redis
 * mode): enough to keep the budget's round trips overlapped, few enough that a full action does
 * not take a pile of process slots while the "no" is on its way.
 */
const MAX_PENDING_PER_ACTION = 4;

/** An attempt waiting for its turn. */
interface Waiter {
  /** Where it waits (a lane emptied and refilled is a new lane). */
  lane: Lane;
  resolve(permit: AttemptPermit): void;
  reject(error: Error): void;
  /** Its wait was aborted while the tenant budget's answer was on its way. */
  aborted: boolean;
  detach(): void;
}

/** One batch's attempts waiting for a turn, oldest first. */
interface Lane {
  readonly batchId: string;
  readonly actionId: string;
  readonly waiters: Waiter[];
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
 * The turns of CXone attempts in this process: at most CXONE_MAX_CONCURRENCY in flight, handed
 * out round-robin between the batches with attempts waiting (a batch with a thousand waiting gets
 * no more turns than one with a single attempt waiting), each attempt of a batch in arrival order.
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
  private readonly max: number;
  private active = 0;
  private readonly lanes = new Map<string, Lane>();
  /** Lanes with waiters, in turn order: the next turn goes to the first one allowed to go. */
  private readonly ready: Lane[] = [];
  /** Tenant budget: attempts picked whose answer from the budget is awaited, by action. */
  private readonly pending = new Map<string, number>();
  private dispatching = false;
  private dispatchAgain = false;
  private readonly unsubscribe: () => void;

  constructor(
    config: AppConfig,
    private readonly budget: TenantBudget,
  ) {
    this.max = config.cxone.maxConcurrency;
    // Tenant budget: it says when an action it held back may go again.
    this.unsubscribe = budget.onChange(() => this.dispatch());
  }

  /** The turns of one batch's attempts; `waitSignal` aborts their waiting (cancel, hand-back). */
  admission(batchId: string, actionId: string, waitSignal?: AbortSignal): AttemptAdmission {
    return { admit: () => this.admit(batchId, actionId, waitSignal), waitSignal };
  }

  get inFlight(): number {
    return this.active;
  }

  get waiting(): number {
    let count = 0;
    for (const lane of this.ready) count += lane.waiters.length;
    return count;
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

  private admit(batchId: string, actionId: string, signal?: AbortSignal): Promise<AttemptPermit> {
    if (signal?.aborted) return Promise.reject(cancelled());
    return new Promise<AttemptPermit>((resolve, reject) => {
      let lane = this.lanes.get(batchId);
      if (lane === undefined) {
        lane = { batchId, actionId, waiters: [] };
        this.lanes.set(batchId, lane);
      }
      const onAbort = (): void => {
        const at = waiter.lane.waiters.indexOf(waiter);
        if (at < 0) {
          // Picked already: the budget's answer decides what happens (see settle).
          waiter.aborted = true;
          return;
        }
        waiter.lane.waiters.splice(at, 1);
        if (waiter.lane.waiters.length === 0) this.retire(waiter.lane);
        reject(cancelled());
      };
      const waiter: Waiter = {
        lane,
        resolve,
        reject,
        aborted: false,
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (lane.waiters.push(waiter) === 1) this.ready.push(lane);
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
        while (this.active < this.max) {
          const at = this.nextLane(refused);
          if (at < 0) break;
          const lane = this.ready[at];
          const waiter = this.take(lane, at);
          this.active++;
          // Tenant budget: asked once the next waiter is picked; answers at once in one process,
          // after a Redis round trip when a cluster-wide bound applies.
          const permit = this.budget.tryAcquire(lane.actionId);
          if (permit instanceof Promise) {
            this.pending.set(lane.actionId, (this.pending.get(lane.actionId) ?? 0) + 1);
            void permit.then((granted) => {
              const left = (this.pending.get(lane.actionId) ?? 1) - 1;
              if (left === 0) this.pending.delete(lane.actionId);
              else this.pending.set(lane.actionId, left);
              this.settle(waiter, granted);
              this.dispatch();
            });
          } else {
            if (permit === undefined) (refused ??= new Set()).add(lane.actionId);
            this.settle(waiter, permit);
          }
        }
      } while (this.dispatchAgain);
    } finally {
      this.dispatching = false;
    }
  }

  /** Where in `ready` the first lane is whose action the tenant budget lets try now; -1: none. */
  private nextLane(refused: ReadonlySet<string> | undefined): number {
    for (let at = 0; at < this.ready.length; at++) {
      const { actionId } = this.ready[at];
      // Tenant budget: an action paused, full or already being asked for is passed over.
      if (refused?.has(actionId)) continue;
      if ((this.pending.get(actionId) ?? 0) >= MAX_PENDING_PER_ACTION) continue;
      if (this.budget.mayTry(actionId)) return at;
    }
    return -1;
  }

  /** The oldest waiter of the lane at `at` in `ready`; the lane goes to the back of the turn order. */
  private take(lane: Lane, at: number): Waiter {
    const waiter = lane.waiters.shift()!;
    this.ready.splice(at, 1);
    if (lane.waiters.length > 0) this.ready.push(lane);
    else this.lanes.delete(lane.batchId);
    return waiter;
  }

  private settle(waiter: Waiter, budgetPermit: TenantPermit | undefined): void {
    if (budgetPermit === undefined) {
      // The budget said "not now" (and now says so to mayTry): back to the front of its lane,
      // with its lane's turn.
      this.active--;
      if (waiter.aborted) {
        waiter.reject(cancelled());
        return;
      }
      this.putBack(waiter);
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

  private putBack(waiter: Waiter): void {
    const { lane } = waiter;
    let current = this.lanes.get(lane.batchId);
    if (current === undefined) {
      current = lane;
      this.lanes.set(lane.batchId, lane);
    }
    waiter.lane = current;
    if (current.waiters.unshift(waiter) === 1) this.ready.unshift(current);
    else {
      const at = this.ready.indexOf(current);
      if (at > 0) {
        this.ready.splice(at, 1);
        this.ready.unshift(current);
      }
    }
  }

  private retire(lane: Lane): void {
    const at = this.ready.indexOf(lane);
    if (at >= 0) this.ready.splice(at, 1);
    if (this.lanes.get(lane.batchId) === lane) this.lanes.delete(lane.batchId);
  }
}

function cancelled(): DomainError {
  return new DomainError('CANCELLED', 'call cancelled while waiting for its turn');
}
