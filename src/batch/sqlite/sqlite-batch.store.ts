import {
  Injectable,
  Logger,
  Optional,
  type OnApplicationShutdown,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { SQLInputValue, StatementSync } from 'node:sqlite';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { DomainError, ValidationFailedError } from '../../lib/domain-error.js';
import { AppConfig } from '../../config/app-config.js';
import { ReadinessService } from '../../health/readiness.service.js';
import { BatchStore, type IdempotencyRecord, type RedriveResult } from '../core/batch.store.js';
import {
  ownIdOf,
  SUMMARY_FIELD,
  type BatchListEntry,
  type BatchMeta,
  type BatchStatus,
  type BatchSummary,
  type FailureReason,
  type ItemOutcome,
  type ItemPage,
  type ItemStatus,
  type LatencySummary,
  type RedrivableStatus,
  type StoredItem,
} from '../core/batch.types.js';
import { deliveryAtEnd } from '../core/batch-callback.js';
import { latencyBucket, summarizeLatency } from '../core/latency-histogram.js';
import { SqliteCallbackOutbox } from './sqlite-callback.outbox.js';
import {
  isStorageUnavailable,
  sqliteCode,
  SQLITE_CORRUPT,
  SqliteDatabase,
} from './sqlite-database.js';

/** Items written per intake transaction; the event loop turns between two (a poll never waits long). */
const INTAKE_SLICE = 2000;
/** Items deleted per retention step, each its own short transaction. */
const DELETE_SLICE = 2000;
/** Batches taken per retention pass (the next pass takes the rest). */
const SWEEP_BATCHES = 50;
const SWEEP_INTERVAL_MS = 60_000;
/** The first sweep (leftovers of a crash: unaccepted intakes, half-deleted batches) after the start. */
const FIRST_SWEEP_MS = 2000;
/** A claimed Idempotency-Key whose batch was never stored is forgotten after this. */
const ORPHAN_CLAIM_MS = 3600_000;
/** Batch id → row number for the batches being written to; bounded (ids of deleted batches miss harmlessly). */
const SEQ_CACHE_SIZE = 4096;

/** Statuses a batch row may have that no reader sees (see the schema). */
const HIDDEN = "('intake', 'deleting')";
const SUMMARY_COLUMNS = 'total, successful, failed, degraded, cancelled, pending';

const CANCELLED_OUTCOME: ItemOutcome = {
  status: 'cancelled',
  error: 'Batch cancelled',
  errorCode: 'CANCELLED',
  attempts: 0,
  latencyMs: 0,
};

/** The immutable part of BatchMeta, stored as one JSON column (new fields need no migration). */
type MetaDoc = Omit<BatchMeta, 'status' | 'startedAt' | 'finishedAt'>;

interface MetaRow {
  seq: number;
  doc: string;
  status: BatchStatus;
  started_at: string | null;
  finished_at: string | null;
  max_workers: number | null;
  failure_reason: FailureReason | null;
  redrive_count: number;
}

/** Columns of `MetaRow`. */
const META_COLUMNS =
  'seq, doc, status, started_at, finished_at, max_workers, failure_reason, redrive_count';

/** A batch whose pending rows read as cancelled (see the schema). */
function pendingReadsCancelled(status: BatchStatus | undefined): boolean {
  return status === 'cancelled' || status === 'failed';
}

type SummaryRow = BatchSummary;

interface ItemRow {
  idx: number;
  status: ItemStatus;
  own_id: string | null;
  outcome: string | null;
}

interface OutcomeWrite {
  seq: number;
  index: number;
  outcome: ItemOutcome;
  done: () => void;
  failed: (error: unknown) => void;
}

/** What a group of outcomes does to one batch's counters and histogram. */
interface BatchDelta {
  counts: Record<keyof BatchSummary, number>;
  buckets: Map<number, number>;
  latencyMax: number;
}

function invalidCursor(): ValidationFailedError {
  return new ValidationFailedError([
    { field: 'cursor', message: 'is not a cursor this service issued' },
  ]);
}

function toMeta(row: MetaRow): BatchMeta {
  const doc = JSON.parse(row.doc) as MetaDoc;
  return {
    ...doc,
    options:
      row.max_workers === null ? doc.options : { ...doc.options, maxWorkers: row.max_workers },
    status: row.status,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    ...(row.failure_reason ? { failureReason: row.failure_reason } : {}),
    ...(row.redrive_count > 0 ? { redriveCount: row.redrive_count } : {}),
  };
}

function emptyDelta(): BatchDelta {
  return {
    counts: { total: 0, successful: 0, failed: 0, degraded: 0, cancelled: 0, pending: 0 },
    buckets: new Map(),
    latencyMax: 0,
  };
}

/**
 * The single-process durable store: batches in a SQLite file in DATA_DIR (`SqliteDatabase`),
 * so a restart, also after a `SIGKILL`, resumes what was accepted. `node:sqlite` answers
 * synchronously, so every statement is small: an intake is written in slices with the event loop
 * turning between them, outcomes completed in the same turn are written in one short
 * transaction, a status page reads O(offset + limit) rows by index, and retention deletes in
 * steps. The process holds no batch data beyond what a call needs. A failing disk (full,
 * read-only) answers `NOT_READY` (503), which the runner waits out.
 */
@Injectable()
export class SqliteBatchStore
  extends BatchStore
  implements OnModuleInit, OnModuleDestroy, OnApplicationShutdown
{
  private readonly logger = new Logger(SqliteBatchStore.name);
  private readonly statements: ReturnType<SqliteBatchStore['prepareStatements']>;
  private readonly seqs = new Map<string, number>();
  /** Outcomes waiting for the next write (one transaction per event-loop turn). */
  private outcomeQueue: OutcomeWrite[] = [];
  private flushQueued = false;
  /** Batches whose intake is under way: their `intake` rows are not leftovers. */
  private readonly intakes = new Set<number>();
  /** Set while writes fail (disk full…): readiness reports it until a write succeeds again. */
  private writeFailure: string | undefined;
  private firstSweep: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private closed = false;

  private readonly outbox: SqliteCallbackOutbox;

  constructor(
    private readonly database: SqliteDatabase,
    private readonly config: AppConfig,
    @Optional() private readonly readiness?: ReadinessService,
    @Optional() outbox?: SqliteCallbackOutbox,
  ) {
    super();
    this.statements = this.prepareStatements();
    this.outbox = outbox ?? new SqliteCallbackOutbox(database);
  }

  onModuleInit(): void {
    this.logger.log(`Batches are kept in ${this.database.file}`);
    // Status polls still work while writes fail (a full disk), so readiness stays up and says
    // so in its details; the intake answers 503 meanwhile.
    this.readiness?.register('data_dir', async () => ({
      path: this.database.dataDir,
      writes: this.writeFailure === undefined ? 'ok' : `failing: ${this.writeFailure}`,
    }));
    this.firstSweep = setTimeout(() => void this.sweep(Date.now()), FIRST_SWEEP_MS).unref();
    this.sweeper = setInterval(() => void this.sweep(Date.now()), SWEEP_INTERVAL_MS).unref();
  }

  onModuleDestroy(): void {
    clearTimeout(this.firstSweep);
    clearInterval(this.sweeper);
  }

  /** After the queue has drained: the outcomes of the last calls are written, then the file is released. */
  onApplicationShutdown(): void {
    if (this.closed) return;
    this.flushOutcomes();
    this.closed = true;
    this.database.close();
  }

  // ---- intake ---------------------------------------------------------------------------

  async create(meta: BatchMeta, payloads: unknown[]): Promise<void> {
    const {
      status,
      startedAt: _startedAt,
      finishedAt: _finishedAt,
      failureReason: _failureReason,
      redriveCount: _redriveCount,
      ...doc
    } = meta;
    const s = this.statements;
    const seq = this.write(() =>
      Number(
        s.insertBatch.run(
          meta.batchId,
          meta.caller,
          JSON.stringify(doc satisfies MetaDoc),
          meta.createdAt,
          payloads.length,
          payloads.length,
        ).lastInsertRowid,
      ),
    );
    this.intakes.add(seq);
    try {
      for (let start = 0; start < payloads.length; start += INTAKE_SLICE) {
        if (start > 0) await nextTurn();
        const end = Math.min(start + INTAKE_SLICE, payloads.length);
        this.write(() =>
          this.database.transaction(() => {
            for (let index = start; index < end; index++) {
              const payload = payloads[index];
              const id = ownIdOf(payload);
              s.insertItem.run(
                seq,
                index,
                id === undefined ? null : JSON.stringify(id),
                JSON.stringify(payload),
              );
            }
          }),
        );
      }
      // Accepted from here on: this commit reaches the disk before the client hears 202.
      this.write(() => this.database.durableTransaction(() => s.acceptBatch.run(status, seq)));
      this.seqs.set(meta.batchId, seq);
    } catch (error) {
      // Never accepted: the rows go with the next sweep (also after a crash right here).
      try {
        s.markDeleting.run(seq);
      } catch {
        // the sweep finds the intake row anyway
      }
      throw error;
    } finally {
      this.intakes.delete(seq);
    }
  }

  async claimIdempotencyKey(
    key: string,
    record: IdempotencyRecord,
  ): Promise<IdempotencyRecord | undefined> {
    const keyHash = createHash('sha256').update(key).digest('hex');
    const s = this.statements;
    return this.write(() =>
      this.database.transaction(() => {
        const earlier = one<{ batch_id: string; body_hash: string }>(s.getClaim, keyHash);
        // Same rule as the other stores: a claim whose batch is gone (expired, or never stored) is free.
        if (earlier && s.batchExists.get(earlier.batch_id)) {
          return { batchId: earlier.batch_id, bodyHash: earlier.body_hash };
        }
        s.putClaim.run(keyHash, record.batchId, record.bodyHash, Date.now());
        return undefined;
      }),
    );
  }

  // ---- the runner's side --------------------------------------------------------------------

  async getMeta(batchId: string): Promise<BatchMeta | undefined> {
    const row = this.read(() => one<MetaRow>(this.statements.getMeta, batchId));
    return row ? toMeta(row) : undefined;
  }

  async getPayloads(batchId: string, start: number, end: number): Promise<unknown[]> {
    const seq = this.requireSeq(batchId);
    const rows = this.read(() =>
      all<{ idx: number; payload: string | null }>(this.statements.payloads, seq, start, end),
    );
    const payloads = new Array<unknown>(Math.max(0, end - start));
    // A payload is dropped once its item succeeded: that item is recorded and never read again.
    for (const row of rows) {
      if (row.payload !== null) payloads[row.idx - start] = JSON.parse(row.payload);
    }
    return payloads;
  }

  async recordedIn(batchId: string, start: number, end: number): Promise<boolean[]> {
    const row = this.read(() => one<MetaRow>(this.statements.getMeta, batchId));
    if (!row) throw new Error(`batch ${batchId} is not in the store`);
    const recorded = new Array<boolean>(Math.max(0, end - start));
    // Every item of a cancelled (or failed) batch has its outcome: its own, or "cancelled".
    if (pendingReadsCancelled(row.status)) return recorded.fill(true);
    recorded.fill(false);
    const done = this.read(() =>
      all<{ idx: number }>(this.statements.recordedIn, row.seq, start, end),
    );
    for (const { idx } of done) recorded[idx - start] = true;
    return recorded;
  }

  /**
   * Queues the outcome for the write of this event-loop turn and resolves once it is committed:
   * the outcomes of the calls that complete in one turn share a transaction.
   */
  async recordOutcome(batchId: string, index: number, outcome: ItemOutcome): Promise<void> {
    const seq = this.seqOf(batchId);
    if (seq === undefined) return;
    await new Promise<void>((done, failed) => {
      this.outcomeQueue.push({ seq, index, outcome, done, failed });
      if (!this.flushQueued) {
        this.flushQueued = true;
        setImmediate(this.flushOutcomes);
      }
    });
  }

  async markRunning(batchId: string, startedAt: string): Promise<boolean> {
    const seq = this.seqOf(batchId);
    if (seq === undefined) return false;
    return this.write(() => this.statements.markRunning.run(startedAt, seq).changes === 1);
  }

  async markFinished(batchId: string, finishedAt: string): Promise<BatchMeta | undefined> {
    const seq = this.seqOf(batchId);
    if (seq === undefined) return undefined;
    this.write(() =>
      this.database.transaction(() => {
        const before = one<MetaRow>(this.statements.getMeta, batchId);
        this.statements.markFinished.run(finishedAt, seq);
        if (before?.finished_at === null) this.writeCallback(batchId);
      }),
    );
    return this.getMeta(batchId);
  }

  async cancel(batchId: string, at: string): Promise<BatchMeta | undefined> {
    const seq = this.seqOf(batchId);
    if (seq === undefined) return undefined;
    const changed = this.write(() =>
      this.database.transaction(() => {
        const changes = this.statements.cancel.run(at, seq).changes;
        // A queued batch ends with its cancel; a running one when its calls in flight are done.
        if (changes === 1 && one<MetaRow>(this.statements.getMeta, batchId)?.finished_at) {
          this.writeCallback(batchId);
        }
        return changes;
      }),
    );
    return changed === 1 ? this.getMeta(batchId) : undefined;
  }

  /** In the transaction that ends the batch, as the other stores do in their step. */
  private writeCallback(batchId: string): void {
    const row = one<MetaRow>(this.statements.getMeta, batchId);
    const summary = one<SummaryRow>(this.statements.summary, batchId);
    if (!row || !summary) return;
    const delivery = deliveryAtEnd(toMeta(row), { ...summary });
    if (delivery) this.outbox.write(delivery, Date.now());
  }

  async markFailed(
    batchId: string,
    reason: FailureReason,
    at: string,
  ): Promise<BatchMeta | undefined> {
    const seq = this.seqOf(batchId);
    if (seq === undefined) return undefined;
    const changed = this.write(() =>
      this.database.transaction(() => {
        const changes = this.statements.markFailed.run(reason, at, seq).changes;
        if (changes === 1) this.writeCallback(batchId);
        return changes;
      }),
    );
    return changed === 1 ? this.getMeta(batchId) : undefined;
  }

  async retune(batchId: string, maxWorkers: number): Promise<BatchMeta | undefined> {
    const seq = this.seqOf(batchId);
    if (seq === undefined) return undefined;
    const changed = this.write(() => this.statements.retune.run(maxWorkers, seq).changes);
    return changed === 1 ? this.getMeta(batchId) : undefined;
  }

  /**
   * In one transaction: the pending rows of a cancelled or failed batch (read as cancelled) are
   * written as cancelled, the chosen outcomes go back to pending, the counters move with them and
   * the batch is queued again. Payloads of items that did not succeed are still there.
   */
  async redrive(batchId: string, statuses: readonly RedrivableStatus[]): Promise<RedriveResult> {
    const row = this.read(() => one<MetaRow>(this.statements.getMeta, batchId));
    if (!row) return { refused: 'unknown' };
    if (row.finished_at === null) return { refused: 'unfinished' };
    const s = this.statements;
    const moved = this.write(() =>
      this.database.transaction(() => {
        if (pendingReadsCancelled(row.status)) {
          s.cancelPendingRows.run(JSON.stringify(CANCELLED_OUTCOME), row.seq);
        }
        const counts = { successful: 0, failed: 0, degraded: 0, cancelled: 0 };
        for (const status of new Set(statuses)) {
          counts[status] = one<{ count: number }>(s.countOfStatus, row.seq, status)!.count;
        }
        const redriven = counts.failed + counts.degraded + counts.cancelled;
        if (redriven === 0) return 0;
        for (const status of new Set(statuses)) s.redriveRows.run(row.seq, status);
        // The earlier end's callback, delivered or not, gives way to the next end's.
        this.outbox.forget(batchId);
        s.requeue.run(0, counts.failed, counts.degraded, counts.cancelled, redriven, row.seq);
        return redriven;
      }),
    );
    if (moved === 0) return { refused: 'no-match' };
    const meta = await this.getMeta(batchId);
    return meta ? { redriven: moved, meta } : { refused: 'unknown' };
  }

  // ---- reading ------------------------------------------------------------------------------

  async summary(batchId: string): Promise<BatchSummary> {
    const row = this.read(() => one<SummaryRow>(this.statements.summary, batchId));
    if (!row) throw new Error(`batch ${batchId} is not in the store`);
    return { ...row };
  }

  async latency(batchId: string): Promise<LatencySummary> {
    const seq = this.requireSeq(batchId);
    return this.read(() => {
      const counts = new Map<number, number>();
      for (const row of all<{ bucket: number; count: number }>(this.statements.latency, seq))
        counts.set(row.bucket, row.count);
      const max = one<{ latency_max: number }>(this.statements.latencyMax, seq);
      return summarizeLatency(counts, max?.latency_max ?? 0);
    });
  }

  async page(
    batchId: string,
    offset: number,
    limit: number,
    status?: ItemStatus,
  ): Promise<ItemPage> {
    const meta = this.read(() => one<MetaRow>(this.statements.getMeta, batchId));
    if (!meta) throw new Error(`batch ${batchId} is not in the store`);
    const cancelled = pendingReadsCancelled(meta.status);
    const s = this.statements;
    return this.read(() => {
      if (status === undefined) {
        const rows = all<ItemRow>(s.pageAll, meta.seq, offset, offset + limit);
        const { total } = one<{ total: number }>(s.total, meta.seq)!;
        return { items: rows.map((row) => storedItem(row, cancelled)), total };
      }
      const summary = one<SummaryRow>(s.summaryBySeq, meta.seq)!;
      const total = summary[SUMMARY_FIELD[status]];
      if (cancelled && status === 'pending') return { items: [], total };
      if (cancelled && status === 'cancelled') {
        // Cancelled by the batch's cancel (rows still pending) or recorded as such: in index order.
        const items = mergeByIndex(
          s.cancelledRows.iterate(meta.seq) as unknown as Iterator<ItemRow>,
          s.pendingRows.iterate(meta.seq) as unknown as Iterator<ItemRow>,
          offset,
          limit,
        ).map((row) => storedItem(row, true));
        return { items, total };
      }
      const rows = all<ItemRow>(s.pageOfStatus, meta.seq, status, limit, offset);
      return { items: rows.map((row) => storedItem(row, cancelled)), total };
    });
  }

  async list(
    limit: number,
    cursor?: string,
    caller?: string,
  ): Promise<{ batches: BatchListEntry[]; nextCursor: string | null }> {
    let before = Number.MAX_SAFE_INTEGER;
    if (cursor !== undefined) {
      const decoded = Buffer.from(cursor, 'base64url').toString();
      if (!/^[1-9][0-9]{0,15}$/.test(decoded)) throw invalidCursor();
      before = Number(decoded);
    }
    const rows = this.read(() =>
      caller === undefined
        ? all<MetaRow & SummaryRow>(this.statements.list, before, limit + 1)
        : all<MetaRow & SummaryRow>(this.statements.listOfCaller, caller, before, limit + 1),
    );
    const page = rows.slice(0, limit);
    const batches = page.map((row) => {
      const { batchId, actionId, createdAt, caller: owner } = JSON.parse(row.doc) as MetaDoc;
      return {
        batchId,
        actionId,
        caller: owner,
        status: row.status,
        createdAt,
        summary: {
          total: row.total,
          successful: row.successful,
          failed: row.failed,
          degraded: row.degraded,
          cancelled: row.cancelled,
          pending: row.pending,
        },
      };
    });
    const last = page.at(-1);
    const nextCursor =
      rows.length > limit && last ? Buffer.from(String(last.seq)).toString('base64url') : null;
    return { batches, nextCursor };
  }

  /** Throws when the file cannot be read (closed, damaged). Failing writes do not make it unready: see onModuleInit. */
  async ping(): Promise<void> {
    if (this.closed) throw new Error('the batch store is closed');
    this.read(() => this.statements.ping.get());
  }

  // ---- the queue's side ---------------------------------------------------------------------

  /** Batches accepted and not finished, oldest first: what a start resumes. */
  unfinishedBatchIds(): string[] {
    return this.read(() =>
      all<{ batch_id: string }>(this.statements.unfinished).map((row) => row.batch_id),
    );
  }

  async unfinishedItemsOf(caller: string): Promise<number> {
    return this.read(
      () => one<{ items: number }>(this.statements.unfinishedItemsOf, caller)!.items,
    );
  }

  /** Items of unfinished batches (the intake limit). */
  unfinishedItems(): number {
    return this.read(() => one<{ items: number }>(this.statements.unfinishedItems)!.items);
  }

  // ---- retention ----------------------------------------------------------------------------

  /**
   * Deletes batches that finished more than BATCH_RETENTION_SECONDS before `now`, and leftovers
   * of a crash (intakes never accepted, deletions cut short), a few rows per transaction with the
   * event loop turning in between. One pass at a time; resolves when this pass is done.
   */
  sweep(now: number): Promise<void> {
    this.sweeping ??= this.sweepOnce(now)
      .catch((error: unknown) =>
        this.logger.warn(`Retention sweep stopped, retried later: ${describe(error)}`),
      )
      .finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async sweepOnce(now: number): Promise<void> {
    const s = this.statements;
    const cutoff = new Date(now - this.config.batch.retentionSeconds * 1000).toISOString();
    for (;;) {
      if (this.closed) return;
      const expired = all<{ seq: number }>(s.expired, cutoff, SWEEP_BATCHES);
      const hidden = all<{ seq: number; status: string }>(s.hidden).filter(
        (row) => !this.intakes.has(row.seq),
      );
      const doomed = [...expired.map((row) => row.seq), ...hidden.map((row) => row.seq)];
      if (doomed.length === 0) break;
      for (const seq of doomed) {
        if (this.closed) return;
        await this.deleteBatch(seq);
      }
      if (expired.length < SWEEP_BATCHES) break;
    }
    if (!this.closed) s.forgetOrphanClaims.run(now - ORPHAN_CLAIM_MS);
  }

  private async deleteBatch(seq: number): Promise<void> {
    const s = this.statements;
    const row = one<{ batch_id: string; total: number }>(s.rowForDelete, seq);
    if (!row) return;
    // Invisible first (a 404 from here on), then the rows in slices, the batch row last.
    s.markDeleting.run(seq);
    this.seqs.delete(row.batch_id);
    for (let start = 0; start < row.total; start += DELETE_SLICE) {
      if (this.closed) return;
      s.deleteItems.run(seq, start, start + DELETE_SLICE);
      await nextTurn();
    }
    if (this.closed) return;
    this.database.transaction(() => {
      s.deleteLatency.run(seq);
      s.deleteClaims.run(row.batch_id);
      this.outbox.forget(row.batch_id);
      s.deleteBatch.run(seq);
    });
  }

  // ---- outcomes -----------------------------------------------------------------------------

  /** Writes every queued outcome in one transaction; each waiting call resolves or rejects with it. */
  private readonly flushOutcomes = (): void => {
    this.flushQueued = false;
    const writes = this.outcomeQueue;
    if (writes.length === 0) return;
    this.outcomeQueue = [];
    try {
      this.write(() => this.database.transaction(() => this.applyOutcomes(writes)));
    } catch (error) {
      for (const write of writes) write.failed(error);
      return;
    }
    for (const write of writes) write.done();
  };

  private applyOutcomes(writes: OutcomeWrite[]): void {
    const s = this.statements;
    const deltas = new Map<number, BatchDelta>();
    const statusOf = new Map<number, BatchStatus | undefined>();
    for (const { seq, index, outcome } of writes) {
      if (!statusOf.has(seq)) {
        const row = one<{ status: BatchStatus }>(s.statusBySeq, seq);
        statusOf.set(seq, row?.status);
      }
      const batchStatus = statusOf.get(seq);
      if (batchStatus === undefined) continue;
      const json = JSON.stringify(outcome);
      // A success never runs again: its payload goes now (a failure's stays, it may be redriven).
      const dropPayload = outcome.status === 'success' ? 1 : 0;
      let from: keyof BatchSummary;
      if (s.recordPending.run(outcome.status, json, dropPayload, seq, index).changes === 1) {
        from = pendingReadsCancelled(batchStatus) ? 'cancelled' : 'pending';
      } else if (
        s.recordCancelled.run(outcome.status, json, dropPayload, seq, index).changes === 1
      ) {
        // A call in flight when the batch was cancelled reports what it did.
        from = 'cancelled';
      } else {
        continue;
      }
      let delta = deltas.get(seq);
      if (!delta) deltas.set(seq, (delta = emptyDelta()));
      delta.counts[from] -= 1;
      delta.counts[SUMMARY_FIELD[outcome.status]] += 1;
      if (outcome.attempts > 0) {
        const bucket = latencyBucket(outcome.latencyMs);
        delta.buckets.set(bucket, (delta.buckets.get(bucket) ?? 0) + 1);
        delta.latencyMax = Math.max(delta.latencyMax, outcome.latencyMs);
      }
    }
    for (const [seq, { counts, buckets, latencyMax }] of deltas) {
      s.addCounts.run(
        counts.successful,
        counts.failed,
        counts.degraded,
        counts.cancelled,
        counts.pending,
        latencyMax,
        seq,
      );
      for (const [bucket, count] of buckets) s.addLatency.run(seq, bucket, count);
    }
  }

  // ---- plumbing -----------------------------------------------------------------------------

  /** The row number of a visible batch, or undefined. */
  private seqOf(batchId: string): number | undefined {
    const known = this.seqs.get(batchId);
    if (known !== undefined) return known;
    const row = this.read(() => one<{ seq: number }>(this.statements.seqOf, batchId));
    if (!row) return undefined;
    if (this.seqs.size >= SEQ_CACHE_SIZE) this.seqs.clear();
    this.seqs.set(batchId, row.seq);
    return row.seq;
  }

  private requireSeq(batchId: string): number {
    const seq = this.seqOf(batchId);
    if (seq === undefined) throw new Error(`batch ${batchId} is not in the store`);
    return seq;
  }

  /** Runs a write; a failing disk becomes NOT_READY and is remembered for readiness. */
  private write<T>(operation: () => T): T {
    try {
      const result = operation();
      if (this.writeFailure !== undefined) this.noteWriteSucceeded();
      return result;
    } catch (error) {
      if (!isStorageUnavailable(error)) throw error;
      const failure = describe(error);
      if (this.writeFailure === undefined) {
        this.logger.error(
          `Writes to ${this.database.file} fail (${failure}): intake answers 503, running batches wait`,
        );
      }
      this.writeFailure = failure;
      throw this.unavailable(error);
    }
  }

  private read<T>(operation: () => T): T {
    try {
      return operation();
    } catch (error) {
      if (!isStorageUnavailable(error)) throw error;
      if (sqliteCode(error) === SQLITE_CORRUPT) {
        this.logger.error(`${this.database.file} is damaged: ${describe(error)}`);
      }
      throw this.unavailable(error);
    }
  }

  private noteWriteSucceeded(): void {
    // Said once, when writes work again after failing.
    this.logger.log(`Writes to ${this.database.file} work again`);
    this.writeFailure = undefined;
  }

  private unavailable(cause: unknown): DomainError {
    const error = new DomainError(
      'NOT_READY',
      'The batch store cannot use its data directory (DATA_DIR); retry shortly.',
      { retryAfterSeconds: 5 },
    );
    error.cause = cause;
    return error;
  }

  private prepareStatements() {
    const db = this.database.connection;
    const prepare = (sql: string): StatementSync => db.prepare(sql);
    return {
      insertBatch: prepare(
        `INSERT INTO batches (batch_id, caller, status, doc, created_at, total, pending)
         VALUES (?, ?, 'intake', ?, ?, ?, ?)`,
      ),
      insertItem: prepare(
        'INSERT INTO items (batch_seq, idx, own_id, payload) VALUES (?, ?, ?, ?)',
      ),
      acceptBatch: prepare(`UPDATE batches SET status = ? WHERE seq = ? AND status = 'intake'`),
      markDeleting: prepare(`UPDATE batches SET status = 'deleting' WHERE seq = ?`),
      getClaim: prepare('SELECT batch_id, body_hash FROM idempotency WHERE key_hash = ?'),
      putClaim: prepare(
        `INSERT INTO idempotency (key_hash, batch_id, body_hash, claimed_at_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT (key_hash) DO UPDATE SET batch_id = excluded.batch_id,
           body_hash = excluded.body_hash, claimed_at_ms = excluded.claimed_at_ms`,
      ),
      batchExists: prepare(
        `SELECT 1 AS found FROM batches WHERE batch_id = ? AND status NOT IN ${HIDDEN}`,
      ),
      seqOf: prepare(`SELECT seq FROM batches WHERE batch_id = ? AND status NOT IN ${HIDDEN}`),
      getMeta: prepare(
        `SELECT ${META_COLUMNS} FROM batches WHERE batch_id = ? AND status NOT IN ${HIDDEN}`,
      ),
      statusBySeq: prepare('SELECT status FROM batches WHERE seq = ?'),
      payloads: prepare(
        'SELECT idx, payload FROM items WHERE batch_seq = ? AND idx >= ? AND idx < ? ORDER BY idx',
      ),
      recordedIn: prepare(
        `SELECT idx FROM items WHERE batch_seq = ? AND idx >= ? AND idx < ? AND status != 'pending'`,
      ),
      recordPending: prepare(
        `UPDATE items SET status = ?, outcome = ?, payload = CASE WHEN ? THEN NULL ELSE payload END
         WHERE batch_seq = ? AND idx = ? AND status = 'pending'`,
      ),
      recordCancelled: prepare(
        `UPDATE items SET status = ?, outcome = ?, payload = CASE WHEN ? THEN NULL ELSE payload END
         WHERE batch_seq = ? AND idx = ? AND status = 'cancelled'`,
      ),
      addCounts: prepare(
        `UPDATE batches SET successful = successful + ?, failed = failed + ?,
           degraded = degraded + ?, cancelled = cancelled + ?, pending = pending + ?,
           latency_max = MAX(latency_max, ?)
         WHERE seq = ?`,
      ),
      addLatency: prepare(
        `INSERT INTO latency (batch_seq, bucket, count) VALUES (?, ?, ?)
         ON CONFLICT (batch_seq, bucket) DO UPDATE SET count = count + excluded.count`,
      ),
      markRunning: prepare(
        `UPDATE batches SET status = 'running', started_at = COALESCE(started_at, ?)
         WHERE seq = ? AND status IN ('queued', 'running') AND finished_at IS NULL`,
      ),
      markFinished: prepare(
        `UPDATE batches SET status = CASE WHEN status IN ('cancelled', 'failed') THEN status ELSE 'completed' END,
           finished_at = COALESCE(finished_at, ?)
         WHERE seq = ? AND status NOT IN ${HIDDEN}`,
      ),
      // A batch that never started has nothing in flight: it is finished at once.
      cancel: prepare(
        `UPDATE batches SET status = 'cancelled', cancelled = cancelled + pending, pending = 0,
           finished_at = CASE status WHEN 'queued' THEN ? ELSE finished_at END
         WHERE seq = ? AND status IN ('queued', 'running')`,
      ),
      summary: prepare(
        `SELECT ${SUMMARY_COLUMNS} FROM batches WHERE batch_id = ? AND status NOT IN ${HIDDEN}`,
      ),
      summaryBySeq: prepare(`SELECT ${SUMMARY_COLUMNS} FROM batches WHERE seq = ?`),
      total: prepare('SELECT total FROM batches WHERE seq = ?'),
      latency: prepare('SELECT bucket, count FROM latency WHERE batch_seq = ?'),
      latencyMax: prepare('SELECT latency_max FROM batches WHERE seq = ?'),
      pageAll: prepare(
        `SELECT idx, status, own_id, outcome FROM items
         WHERE batch_seq = ? AND idx >= ? AND idx < ? ORDER BY idx`,
      ),
      pageOfStatus: prepare(
        `SELECT idx, status, own_id, outcome FROM items
         WHERE batch_seq = ? AND status = ? ORDER BY idx LIMIT ? OFFSET ?`,
      ),
      // Two statements: a cancelled batch's page by status merges both streams at once.
      cancelledRows: prepare(
        `SELECT idx, status, own_id, outcome FROM items
         WHERE batch_seq = ? AND status = 'cancelled' ORDER BY idx`,
      ),
      pendingRows: prepare(
        `SELECT idx, status, own_id, outcome FROM items
         WHERE batch_seq = ? AND status = 'pending' ORDER BY idx`,
      ),
      list: prepare(
        `SELECT seq, doc, status, ${SUMMARY_COLUMNS} FROM batches
         WHERE seq < ? AND status NOT IN ${HIDDEN} ORDER BY seq DESC LIMIT ?`,
      ),
      unfinished: prepare(
        `SELECT batch_id FROM batches WHERE finished_at IS NULL AND status NOT IN ${HIDDEN} ORDER BY seq`,
      ),
      listOfCaller: prepare(
        `SELECT seq, doc, status, ${SUMMARY_COLUMNS} FROM batches
         WHERE caller = ? AND seq < ? AND status NOT IN ${HIDDEN} ORDER BY seq DESC LIMIT ?`,
      ),
      unfinishedItemsOf: prepare(
        `SELECT COALESCE(SUM(total), 0) AS items FROM batches
         WHERE caller = ? AND finished_at IS NULL AND status NOT IN ${HIDDEN}`,
      ),
      markFailed: prepare(
        `UPDATE batches SET status = 'failed', failure_reason = ?, cancelled = cancelled + pending,
           pending = 0, finished_at = ?
         WHERE seq = ? AND status IN ('queued', 'running') AND finished_at IS NULL`,
      ),
      retune: prepare(
        `UPDATE batches SET max_workers = ? WHERE seq = ? AND finished_at IS NULL
           AND status NOT IN ${HIDDEN}`,
      ),
      cancelPendingRows: prepare(
        `UPDATE items SET status = 'cancelled', outcome = ? WHERE batch_seq = ? AND status = 'pending'`,
      ),
      countOfStatus: prepare(
        'SELECT COUNT(*) AS count FROM items WHERE batch_seq = ? AND status = ?',
      ),
      redriveRows: prepare(
        `UPDATE items SET status = 'pending', outcome = NULL WHERE batch_seq = ? AND status = ?`,
      ),
      requeue: prepare(
        `UPDATE batches SET status = 'queued', started_at = NULL, finished_at = NULL,
           failure_reason = NULL, redrive_count = redrive_count + 1,
           successful = successful - ?, failed = failed - ?, degraded = degraded - ?,
           cancelled = cancelled - ?, pending = pending + ?
         WHERE seq = ?`,
      ),
      unfinishedItems: prepare(
        `SELECT COALESCE(SUM(total), 0) AS items FROM batches
         WHERE finished_at IS NULL AND status NOT IN ${HIDDEN}`,
      ),
      expired: prepare(
        `SELECT seq FROM batches WHERE finished_at IS NOT NULL AND finished_at <= ?
           AND status NOT IN ${HIDDEN}
         ORDER BY finished_at LIMIT ?`,
      ),
      hidden: prepare(`SELECT seq, status FROM batches WHERE status IN ${HIDDEN}`),
      rowForDelete: prepare('SELECT batch_id, total FROM batches WHERE seq = ?'),
      deleteItems: prepare('DELETE FROM items WHERE batch_seq = ? AND idx >= ? AND idx < ?'),
      deleteLatency: prepare('DELETE FROM latency WHERE batch_seq = ?'),
      deleteClaims: prepare('DELETE FROM idempotency WHERE batch_id = ?'),
      deleteBatch: prepare('DELETE FROM batches WHERE seq = ?'),
      forgetOrphanClaims: prepare(
        `DELETE FROM idempotency WHERE claimed_at_ms < ?
         AND NOT EXISTS (SELECT 1 FROM batches WHERE batches.batch_id = idempotency.batch_id)`,
      ),
      ping: prepare('SELECT 1 AS ok'),
    };
  }
}

function one<T>(statement: StatementSync, ...params: SQLInputValue[]): T | undefined {
  return statement.get(...params) as unknown as T | undefined;
}

function all<T>(statement: StatementSync, ...params: SQLInputValue[]): T[] {
  return statement.all(...params) as unknown as T[];
}

function storedItem(row: ItemRow, batchCancelled: boolean): StoredItem {
  let outcome: ItemOutcome | undefined;
  if (row.outcome !== null) outcome = JSON.parse(row.outcome) as ItemOutcome;
  else if (batchCancelled) outcome = CANCELLED_OUTCOME;
  return {
    index: row.idx,
    id: row.own_id === null ? String(row.idx) : (JSON.parse(row.own_id) as string | number),
    outcome,
  };
}

/** Rows `[offset, offset + limit)` of two index-ordered row streams merged by index; both are closed. */
function mergeByIndex(
  first: Iterator<ItemRow>,
  second: Iterator<ItemRow>,
  offset: number,
  limit: number,
): ItemRow[] {
  const rows: ItemRow[] = [];
  try {
    let a = first.next();
    let b = second.next();
    for (let seen = 0; seen < offset + limit && !(a.done && b.done); seen++) {
      let row: ItemRow;
      if (b.done || (!a.done && a.value.idx < b.value.idx)) {
        row = a.value as ItemRow;
        a = first.next();
      } else {
        row = b.value;
        b = second.next();
      }
      if (seen >= offset) rows.push(row);
    }
  } finally {
    first.return?.();
    second.return?.();
  }
  return rows;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
