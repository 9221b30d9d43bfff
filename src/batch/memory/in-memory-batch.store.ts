import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { ValidationFailedError } from '../../lib/domain-error.js';
import { AppConfig } from '../../config/app-config.js';
import { BatchStore, type IdempotencyRecord, type RedriveResult } from '../core/batch.store.js';
import {
  itemIdOf,
  SUMMARY_FIELD,
  type BatchListEntry,
  type BatchMeta,
  type BatchSummary,
  type FailureReason,
  type ItemOutcome,
  type ItemPage,
  type ItemStatus,
  type LatencySummary,
  type RedrivableStatus,
  type StoredItem,
} from '../core/batch.types.js';
import { LatencyHistogram } from '../core/latency-histogram.js';
import { deliveryAtEnd } from '../core/batch-callback.js';
import { InMemoryCallbackOutbox } from './in-memory-callback.outbox.js';

interface MemoryBatch {
  seq: number;
  meta: BatchMeta;
  payloads: unknown[];
  outcomes: (ItemOutcome | undefined)[];
  summary: BatchSummary;
  latency: LatencyHistogram;
}

interface IdempotencyClaim {
  record: IdempotencyRecord;
  /** Epoch ms: a claim whose batch never came is dropped one retention time after it. */
  claimedAt: number;
}

const SWEEP_INTERVAL_MS = 60_000;

function invalidCursor(): ValidationFailedError {
  return new ValidationFailedError([
    { field: 'cursor', message: 'is not a cursor this service issued' },
  ]);
}

function isFinished(meta: BatchMeta): boolean {
  return meta.finishedAt !== null;
}

/** The batch has ended or is ending: nothing may start it, cancel it or fail it again. */
function hasEnded(meta: BatchMeta): boolean {
  return meta.status === 'completed' || meta.status === 'cancelled' || meta.status === 'failed';
}

/** Every pending item of the batch becomes `cancelled`. */
function cancelPending(batch: MemoryBatch): void {
  const { outcomes } = batch;
  for (let index = 0; index < outcomes.length; index++) {
    if (outcomes[index] === undefined) {
      outcomes[index] = {
        status: 'cancelled',
        error: 'Batch cancelled',
        errorCode: 'CANCELLED',
        attempts: 0,
        latencyMs: 0,
      };
    }
  }
  batch.summary.cancelled += batch.summary.pending;
  batch.summary.pending = 0;
}

/** The single-process store: everything in this process's memory, finished batches swept after retention. */
@Injectable()
export class InMemoryBatchStore extends BatchStore implements OnModuleDestroy {
  private readonly batches = new Map<string, MemoryBatch>();
  private readonly idempotency = new Map<string, IdempotencyClaim>();
  /** Items of unfinished batches, by caller. */
  private readonly unfinishedItems = new Map<string, number>();
  private nextSeq = 1;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly config: AppConfig,
    private readonly outbox: InMemoryCallbackOutbox = new InMemoryCallbackOutbox(),
  ) {
    super();
    this.sweeper = setInterval(() => this.sweep(Date.now()), SWEEP_INTERVAL_MS).unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
  }

  /**
   * Drops batches that finished more than BATCH_RETENTION_SECONDS before `now`, and the
   * idempotency claims of batches no longer here (the service claims a key before it creates the
   * batch, so a claim cannot be tied to its batch at claim time; some batches are never created).
   */
  sweep(now: number): number {
    const cutoff = now - this.config.batch.retentionSeconds * 1000;
    let dropped = 0;
    for (const [batchId, batch] of this.batches) {
      const finishedAt = batch.meta.finishedAt;
      if (finishedAt !== null && Date.parse(finishedAt) <= cutoff) {
        this.batches.delete(batchId);
        this.outbox.forget(batchId);
        dropped += 1;
      }
    }
    for (const [key, claim] of this.idempotency) {
      if (claim.claimedAt <= cutoff && !this.batches.has(claim.record.batchId))
        this.idempotency.delete(key);
    }
    return dropped;
  }

  async create(meta: BatchMeta, payloads: unknown[]): Promise<void> {
    this.countUnfinished(meta.caller, payloads.length);
    this.batches.set(meta.batchId, {
      seq: this.nextSeq++,
      meta: { ...meta },
      payloads,
      outcomes: new Array<ItemOutcome | undefined>(payloads.length),
      summary: {
        total: payloads.length,
        successful: 0,
        failed: 0,
        degraded: 0,
        cancelled: 0,
        pending: payloads.length,
      },
      latency: new LatencyHistogram(),
    });
  }

  async claimIdempotencyKey(
    key: string,
    record: IdempotencyRecord,
  ): Promise<IdempotencyRecord | undefined> {
    const existing = this.idempotency.get(key);
    if (existing && this.batches.has(existing.record.batchId)) return existing.record;
    this.idempotency.set(key, { record, claimedAt: Date.now() });
    return undefined;
  }

  async getMeta(batchId: string): Promise<BatchMeta | undefined> {
    const batch = this.batches.get(batchId);
    return batch ? { ...batch.meta } : undefined;
  }

  async getPayloads(batchId: string, start: number, end: number): Promise<unknown[]> {
    return this.require(batchId).payloads.slice(start, end);
  }

  async recordedIn(batchId: string, start: number, end: number): Promise<boolean[]> {
    const { outcomes } = this.require(batchId);
    const recorded: boolean[] = [];
    for (let index = start; index < end; index++) recorded.push(outcomes[index] !== undefined);
    return recorded;
  }

  async recordOutcome(batchId: string, index: number, outcome: ItemOutcome): Promise<void> {
    const batch = this.batches.get(batchId);
    // Not an item of this batch: writing it would count an item that does not exist.
    if (!batch || !Number.isInteger(index) || index < 0 || index >= batch.outcomes.length) return;
    const previous = batch.outcomes[index];
    if (previous !== undefined && previous.status !== 'cancelled') return;
    batch.outcomes[index] = outcome;
    batch.summary[previous ? 'cancelled' : 'pending'] -= 1;
    batch.summary[SUMMARY_FIELD[outcome.status]] += 1;
    if (outcome.attempts > 0) batch.latency.record(outcome.latencyMs);
  }

  async markRunning(batchId: string, startedAt: string): Promise<boolean> {
    const batch = this.batches.get(batchId);
    if (!batch || isFinished(batch.meta) || batch.meta.status === 'cancelled') return false;
    batch.meta.status = 'running';
    batch.meta.startedAt ??= startedAt;
    return true;
  }

  async markFinished(batchId: string, finishedAt: string): Promise<BatchMeta | undefined> {
    const batch = this.batches.get(batchId);
    if (!batch) return undefined;
    if (batch.meta.status !== 'cancelled' && batch.meta.status !== 'failed')
      batch.meta.status = 'completed';
    if (batch.meta.finishedAt === null) {
      batch.meta.finishedAt = finishedAt;
      this.countUnfinished(batch.meta.caller, -batch.meta.total);
      this.writeCallback(batch);
    }
    return { ...batch.meta };
  }

  async cancel(batchId: string, at: string): Promise<BatchMeta | undefined> {
    const batch = this.batches.get(batchId);
    if (!batch || hasEnded(batch.meta)) return undefined;
    const wasQueued = batch.meta.status === 'queued';
    batch.meta.status = 'cancelled';
    cancelPending(batch);
    // A batch that never started has nothing in flight: it is finished at once.
    if (wasQueued) {
      batch.meta.finishedAt = at;
      this.countUnfinished(batch.meta.caller, -batch.meta.total);
      this.writeCallback(batch);
    }
    return { ...batch.meta };
  }

  async markFailed(
    batchId: string,
    reason: FailureReason,
    at: string,
  ): Promise<BatchMeta | undefined> {
    const batch = this.batches.get(batchId);
    if (!batch || hasEnded(batch.meta) || isFinished(batch.meta)) return undefined;
    batch.meta.status = 'failed';
    batch.meta.failureReason = reason;
    cancelPending(batch);
    batch.meta.finishedAt = at;
    this.countUnfinished(batch.meta.caller, -batch.meta.total);
    this.writeCallback(batch);
    return { ...batch.meta };
  }

  async retune(batchId: string, maxWorkers: number): Promise<BatchMeta | undefined> {
    const batch = this.batches.get(batchId);
    if (!batch || isFinished(batch.meta)) return undefined;
    batch.meta.options = { ...batch.meta.options, maxWorkers };
    return { ...batch.meta };
  }

  async redrive(batchId: string, statuses: readonly RedrivableStatus[]): Promise<RedriveResult> {
    const batch = this.batches.get(batchId);
    if (!batch) return { refused: 'unknown' };
    if (!isFinished(batch.meta)) return { refused: 'unfinished' };
    const chosen = new Set<string>(statuses);
    const { outcomes, summary } = batch;
    let redriven = 0;
    for (let index = 0; index < outcomes.length; index++) {
      const outcome = outcomes[index];
      if (outcome === undefined || !chosen.has(outcome.status)) continue;
      outcomes[index] = undefined;
      summary[SUMMARY_FIELD[outcome.status]] -= 1;
      redriven += 1;
    }
    if (redriven === 0) return { refused: 'no-match' };
    summary.pending += redriven;
    // The earlier end's callback, delivered or not, gives way to the next end's.
    this.outbox.forget(batchId);
    const { failureReason: _ended, ...meta } = batch.meta;
    batch.meta = {
      ...meta,
      status: 'queued',
      startedAt: null,
      finishedAt: null,
      redriveCount: (meta.redriveCount ?? 0) + 1,
    };
    this.countUnfinished(meta.caller, meta.total);
    return { redriven, meta: { ...batch.meta } };
  }

  /** In the step that ends the batch, as the other stores do in their transaction. */
  private writeCallback(batch: MemoryBatch): void {
    const delivery = deliveryAtEnd(batch.meta, batch.summary);
    if (delivery) this.outbox.write(delivery, Date.now());
  }

  async summary(batchId: string): Promise<BatchSummary> {
    return { ...this.require(batchId).summary };
  }

  async latency(batchId: string): Promise<LatencySummary> {
    return this.require(batchId).latency.summary();
  }

  async page(
    batchId: string,
    offset: number,
    limit: number,
    status?: ItemStatus,
  ): Promise<ItemPage> {
    const batch = this.require(batchId);
    const { outcomes, payloads } = batch;
    const item = (index: number): StoredItem => ({
      index,
      id: itemIdOf(payloads[index], index),
      outcome: outcomes[index],
    });
    if (status === undefined) {
      const items: StoredItem[] = [];
      const end = Math.min(offset + limit, payloads.length);
      for (let index = offset; index < end; index++) items.push(item(index));
      return { items, total: payloads.length };
    }
    const total = batch.summary[SUMMARY_FIELD[status]];
    const items: StoredItem[] = [];
    let seen = 0;
    for (
      let index = 0;
      index < outcomes.length && items.length < limit && seen < offset + limit;
      index++
    ) {
      const current = outcomes[index];
      const matches = status === 'pending' ? current === undefined : current?.status === status;
      if (!matches) continue;
      if (seen >= offset) items.push(item(index));
      seen += 1;
    }
    return { items, total };
  }

  async unfinishedItemsOf(caller: string): Promise<number> {
    return this.unfinishedItems.get(caller) ?? 0;
  }

  async list(
    limit: number,
    cursor?: string,
    caller?: string,
  ): Promise<{ batches: BatchListEntry[]; nextCursor: string | null }> {
    let before = Number.POSITIVE_INFINITY;
    if (cursor !== undefined) {
      const decoded = Buffer.from(cursor, 'base64url').toString();
      if (!/^[1-9][0-9]{0,15}$/.test(decoded)) throw invalidCursor();
      before = Number(decoded);
    }
    const candidates = [...this.batches.values()]
      .filter(
        (batch) => batch.seq < before && (caller === undefined || batch.meta.caller === caller),
      )
      .sort((a, b) => b.seq - a.seq);
    const page = candidates.slice(0, limit);
    const batches = page.map((batch) => ({
      batchId: batch.meta.batchId,
      actionId: batch.meta.actionId,
      caller: batch.meta.caller,
      status: batch.meta.status,
      createdAt: batch.meta.createdAt,
      summary: { ...batch.summary },
    }));
    const last = page.at(-1);
    const nextCursor =
      candidates.length > limit && last
        ? Buffer.from(String(last.seq)).toString('base64url')
        : null;
    return { batches, nextCursor };
  }

  async ping(): Promise<void> {}

  private countUnfinished(caller: string, items: number): void {
    const count = (this.unfinishedItems.get(caller) ?? 0) + items;
    if (count > 0) this.unfinishedItems.set(caller, count);
    else this.unfinishedItems.delete(caller);
  }

  private require(batchId: string): MemoryBatch {
    const batch = this.batches.get(batchId);
    if (!batch) throw new Error(`batch ${batchId} is not in the store`);
    return batch;
  }
}
