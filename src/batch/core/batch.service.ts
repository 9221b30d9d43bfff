import { Injectable, Optional } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import type { Caller } from '../../lib/caller.js';
import { canonicalJson } from '../../lib/canonical-json.js';
import { DomainError } from '../../lib/domain-error.js';
import type { TraceContext } from '../../lib/trace-context.js';
import { AppConfig } from '../../config/app-config.js';
import { CallbackDispatcher } from '../../callback/core/callback-dispatcher.js';
import { CallbackOutbox } from '../../callback/core/callback-outbox.js';
import { NOT_YET_SENT, type CallbackState } from '../../callback/core/callback.types.js';
import { BatchTelemetry, noopBatchTelemetry } from './batch-telemetry.js';
import { BatchQueue } from './batch.queue.js';
import { BatchRunner } from './batch.runner.js';
import { BatchStore } from './batch.store.js';
import { effectiveWorkers } from '../../tenant/effective-workers.js';
import { TenantBudget } from '../../tenant/tenant-budget.js';
import type {
  BatchListEntry,
  BatchMeta,
  BatchSummary,
  ItemPage,
  ItemStatus,
  LatencySummary,
  ParsedBatch,
  RedrivableStatus,
} from './batch.types.js';

export interface SubmitResult {
  meta: BatchMeta;
  /** false when an earlier request with the same Idempotency-Key and body created the batch. */
  created: boolean;
}

/** A batch's concurrency as it stands (status body `limits`). */
export interface BatchLimits {
  maxWorkers: number;
  /** What it may use now: `max_workers` within its share of the action's adaptive limit and the tenant bound. */
  effectiveWorkers: number;
  /** ISO time until which its action is paused (a 429's Retry-After); null: not paused. */
  pausedUntil: string | null;
}

export interface BatchView {
  meta: BatchMeta;
  summary: BatchSummary;
  latency: LatencySummary;
  limits: BatchLimits;
  page: ItemPage;
  offset: number;
  limit: number;
  /** null when the batch has no callback_url. */
  callback: CallbackState | null;
}

const SATURATED_RETRY_AFTER_SECONDS = 5;

/**
 * Idempotency keys are the caller's own: the same key from two callers names two batches. A caller
 * name has no `:`, so the first one separates it from the key unambiguously.
 */
function scopedIdempotencyKey(caller: Caller, key: string): string {
  return `${caller.name}:${key}`;
}

/**
 * Accepts, reads, cancels and lists batches on behalf of a caller; the controller maps HTTP onto
 * it. A caller sees and acts on its own batches only (ADMIN_CALLERS on every batch): another
 * caller's batch is answered exactly as an unknown one, so ids cannot be probed.
 */
@Injectable()
export class BatchService {
  constructor(
    private readonly config: AppConfig,
    private readonly store: BatchStore,
    private readonly queue: BatchQueue,
    private readonly runner: BatchRunner,
    private readonly budget: TenantBudget,
    private readonly outbox: CallbackOutbox,
    private readonly callbacks: CallbackDispatcher,
    @Optional() private readonly telemetry: BatchTelemetry = noopBatchTelemetry,
  ) {}

  /** `body` is the request as sent: an `Idempotency-Key` is bound to its canonical form. */
  async submit(
    parsed: ParsedBatch,
    body: unknown,
    trace: TraceContext,
    caller: Caller,
    idempotencyKey?: string,
  ): Promise<SubmitResult> {
    this.queue.assertAccepting();
    const batchId = randomUUID();

    if (idempotencyKey !== undefined) {
      const bodyHash = createHash('sha256').update(canonicalJson(body)).digest('hex');
      const earlier = await this.store.claimIdempotencyKey(
        scopedIdempotencyKey(caller, idempotencyKey),
        { batchId, bodyHash },
      );
      if (earlier) {
        if (earlier.bodyHash !== bodyHash) {
          throw new DomainError(
            'IDEMPOTENCY_CONFLICT',
            'This Idempotency-Key was used with a different body.',
          );
        }
        const meta = await this.store.getMeta(earlier.batchId);
        if (meta) return { meta, created: false };
      }
    }

    const items = parsed.payloads.length;
    const [queued, callerQueued] = await Promise.all([
      this.queue.queuedItems(),
      this.store.unfinishedItemsOf(caller.name),
    ]);
    const callerLimit = this.config.callers.maxQueuedItems;
    if (callerQueued + items > callerLimit) {
      throw new DomainError(
        'CALLER_QUEUE_FULL',
        `This caller's unfinished batches hold ${callerQueued} items; ${items} more would pass CALLER_MAX_QUEUED_ITEMS (${callerLimit}). Retry once some have finished.`,
        { retryAfterSeconds: SATURATED_RETRY_AFTER_SECONDS },
      );
    }
    if (queued + items > this.config.batch.maxQueuedItems) {
      throw new DomainError('INTAKE_SATURATED', 'The service is saturated; retry later.', {
        retryAfterSeconds: SATURATED_RETRY_AFTER_SECONDS,
      });
    }

    const meta: BatchMeta = {
      batchId,
      actionId: parsed.actionId,
      caller: caller.name,
      status: 'queued',
      traceId: trace.traceId,
      ...(trace.parentSpanId ? { parentSpanId: trace.parentSpanId } : {}),
      traceFlags: trace.traceFlags,
      ...(trace.traceState ? { traceState: trace.traceState } : {}),
      options: parsed.options,
      total: parsed.payloads.length,
      createdAt: new Date().toISOString(),
      startedAt: null,
      finishedAt: null,
    };
    await this.store.create(meta, parsed.payloads);
    this.telemetry.accepted(meta);
    await this.queue.enqueue(meta);
    return { meta, created: true };
  }

  async status(
    batchId: string,
    caller: Caller,
    offset: number,
    limit: number,
    status?: ItemStatus,
  ): Promise<BatchView> {
    const meta = await this.requireOwned(batchId, caller);
    const hasCallback = meta.options.callbackUrl !== undefined;
    const [summary, latency, page, limits, callback] = await Promise.all([
      this.store.summary(batchId),
      this.store.latency(batchId),
      this.store.page(batchId, offset, limit, status),
      this.limitsOf(meta),
      hasCallback ? this.outbox.stateOf(batchId) : undefined,
    ]);
    return {
      meta,
      summary,
      latency,
      limits,
      page,
      offset,
      limit,
      callback: hasCallback ? (callback ?? { ...NOT_YET_SENT }) : null,
    };
  }

  private async limitsOf(meta: BatchMeta): Promise<BatchLimits> {
    const { maxWorkers } = meta.options;
    const action = await this.budget.limits(meta.actionId);
    return {
      maxWorkers,
      effectiveWorkers: effectiveWorkers(
        meta.batchId,
        maxWorkers,
        action,
        this.budget.tenantMaxConcurrency,
      ),
      pausedUntil: action.pausedUntil === null ? null : new Date(action.pausedUntil).toISOString(),
    };
  }

  async cancel(batchId: string, caller: Caller): Promise<BatchView> {
    const meta = await this.requireOwned(batchId, caller);
    const cancelled = await this.store.cancel(batchId, new Date().toISOString());
    if (!cancelled) {
      throw new DomainError(
        'BATCH_FINISHED',
        `Batch ${batchId} has already finished (${meta.status}).`,
      );
    }
    this.runner.stop(batchId);
    // A batch cancelled while queued ended here, its callback stored with the end: send it now.
    if (cancelled.finishedAt !== null && cancelled.options.callbackUrl) this.callbacks.wake();
    return this.status(batchId, caller, 0, 50);
  }

  /** A new `max_workers` for an unfinished batch; the replica running it applies it within 1 s. */
  async retune(batchId: string, maxWorkers: number, caller: Caller): Promise<BatchView> {
    const meta = await this.requireOwned(batchId, caller);
    const retuned = await this.store.retune(batchId, maxWorkers);
    if (!retuned) {
      throw new DomainError(
        'BATCH_FINISHED',
        `Batch ${batchId} has already finished (${meta.status}).`,
        { errors: [{ field: 'batch_id', message: 'is a batch that has finished' }] },
      );
    }
    this.runner.retune(batchId, maxWorkers);
    return this.status(batchId, caller, 0, 50);
  }

  /**
   * Runs the items of a finished batch with one of `statuses` again, under the same batch id (and
   * so the same X-Request-Ids).
   */
  async redrive(
    batchId: string,
    statuses: readonly RedrivableStatus[],
    caller: Caller,
  ): Promise<BatchView> {
    this.queue.assertAccepting();
    await this.requireOwned(batchId, caller);
    const result = await this.store.redrive(batchId, statuses);
    if ('refused' in result) {
      switch (result.refused) {
        case 'unknown':
          throw notFound(batchId);
        case 'unfinished':
          throw new DomainError(
            'BATCH_UNFINISHED',
            `Batch ${batchId} has not finished; redrive it once it has.`,
            { errors: [{ field: 'batch_id', message: 'is a batch that has not finished' }] },
          );
        case 'no-match':
          throw new DomainError(
            'NOTHING_TO_REDRIVE',
            `No item of batch ${batchId} is ${statuses.join(' or ')}.`,
            { errors: [{ field: 'statuses', message: 'match no item of the batch' }] },
          );
      }
    }
    this.telemetry.redriven(result.meta, result.redriven);
    await this.queue.enqueue(result.meta);
    return this.status(batchId, caller, 0, 50);
  }

  /**
   * The caller's recent batches; an admin's are every caller's, or `ofCaller`'s. `ofCaller` from a
   * caller that is not an admin is refused (403), not silently ignored.
   */
  list(
    caller: Caller,
    limit: number,
    cursor?: string,
    ofCaller?: string,
  ): Promise<{ batches: BatchListEntry[]; nextCursor: string | null }> {
    if (ofCaller !== undefined && !caller.admin) {
      throw new DomainError(
        'FORBIDDEN',
        'Only ADMIN_CALLERS may list the batches of another caller (query parameter caller).',
      );
    }
    return this.store.list(limit, cursor, caller.admin ? ofCaller : caller.name);
  }

  /**
   * The batch's meta if `caller` may see it, else BATCH_NOT_FOUND worded exactly as for an
   * unknown id. Every route that takes a batch id goes through here.
   */
  async requireOwned(batchId: string, caller: Caller): Promise<BatchMeta> {
    const meta = await this.store.getMeta(batchId);
    if (!meta || (meta.caller !== caller.name && !caller.admin)) throw notFound(batchId);
    return meta;
  }
}

function notFound(batchId: string): DomainError {
  return new DomainError(
    'BATCH_NOT_FOUND',
    `No batch ${batchId} (unknown, or past its retention).`,
  );
}
