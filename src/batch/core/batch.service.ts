import { Injectable, Optional } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
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

export interface BatchView {
  meta: BatchMeta;
  summary: BatchSummary;
  latency: LatencySummary;
  page: ItemPage;
  offset: number;
  limit: number;
  /** null when the batch has no callback_url. */
  callback: CallbackState | null;
}

const SATURATED_RETRY_AFTER_SECONDS = 5;

/** Accepts, reads, steers (cancel, retune, redrive) and lists batches; the controller maps HTTP onto it. */
@Injectable()
export class BatchService {
  constructor(
    private readonly config: AppConfig,
    private readonly store: BatchStore,
    private readonly queue: BatchQueue,
    private readonly runner: BatchRunner,
    private readonly outbox: CallbackOutbox,
    private readonly callbacks: CallbackDispatcher,
    @Optional() private readonly telemetry: BatchTelemetry = noopBatchTelemetry,
  ) {}

  /** `body` is the request as sent: an `Idempotency-Key` is bound to its canonical form. */
  async submit(
    parsed: ParsedBatch,
    body: unknown,
    trace: TraceContext,
    idempotencyKey?: string,
  ): Promise<SubmitResult> {
    this.queue.assertAccepting();
    const batchId = randomUUID();

    if (idempotencyKey !== undefined) {
      const bodyHash = createHash('sha256').update(canonicalJson(body)).digest('hex');
      const earlier = await this.store.claimIdempotencyKey(idempotencyKey, { batchId, bodyHash });
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

    const queued = await this.queue.queuedItems();
    if (queued + parsed.payloads.length > this.config.batch.maxQueuedItems) {
      throw new DomainError('INTAKE_SATURATED', 'The service is saturated; retry later.', {
        retryAfterSeconds: SATURATED_RETRY_AFTER_SECONDS,
      });
    }

    const meta: BatchMeta = {
      batchId,
      actionId: parsed.actionId,
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
    offset: number,
    limit: number,
    status?: ItemStatus,
  ): Promise<BatchView> {
    const meta = await this.requireMeta(batchId);
    const hasCallback = meta.options.callbackUrl !== undefined;
    const [summary, latency, page, callback] = await Promise.all([
      this.store.summary(batchId),
      this.store.latency(batchId),
      this.store.page(batchId, offset, limit, status),
      hasCallback ? this.outbox.stateOf(batchId) : undefined,
    ]);
    return {
      meta,
      summary,
      latency,
      page,
      offset,
      limit,
      callback: hasCallback ? (callback ?? { ...NOT_YET_SENT }) : null,
    };
  }

  async cancel(batchId: string): Promise<BatchView> {
    const meta = await this.requireMeta(batchId);
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
    return this.status(batchId, 0, 50);
  }

  /** A new `max_workers` for an unfinished batch; the replica running it applies it within 1 s. */
  async retune(batchId: string, maxWorkers: number): Promise<BatchView> {
    const meta = await this.requireMeta(batchId);
    const retuned = await this.store.retune(batchId, maxWorkers);
    if (!retuned) {
      throw new DomainError(
        'BATCH_FINISHED',
        `Batch ${batchId} has already finished (${meta.status}).`,
        { errors: [{ field: 'batch_id', message: 'is a batch that has finished' }] },
      );
    }
    this.runner.retune(batchId, maxWorkers);
    return this.status(batchId, 0, 50);
  }

  /**
   * Runs the items of a finished batch with one of `statuses` again, under the same batch id (and
   * so the same X-Request-Ids).
   */
  async redrive(batchId: string, statuses: readonly RedrivableStatus[]): Promise<BatchView> {
    this.queue.assertAccepting();
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
    return this.status(batchId, 0, 50);
  }

  list(
    limit: number,
    cursor?: string,
  ): Promise<{ batches: BatchListEntry[]; nextCursor: string | null }> {
    return this.store.list(limit, cursor);
  }

  private async requireMeta(batchId: string): Promise<BatchMeta> {
    const meta = await this.store.getMeta(batchId);
    if (!meta) throw notFound(batchId);
    return meta;
  }
}

function notFound(batchId: string): DomainError {
  return new DomainError(
    'BATCH_NOT_FOUND',
    `No batch ${batchId} (unknown, or past its retention).`,
  );
}
