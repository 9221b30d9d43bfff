import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { newDeliveryId } from '../../callback/core/callback.types.js';
import { DEFAULT_CALLER } from '../../config/api-keys.js';
import { ValidationFailedError } from '../../lib/domain-error.js';
import { nextSlice } from '../../cxone/transport/turn-budget.js';
import { AppConfig } from '../../config/app-config.js';
import { isRedisUnavailable, notReady, RedisConnection } from '../../redis/redis.connection.js';
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
import { latencyBucket, summarizeLatency } from '../core/latency-histogram.js';
import { RedisBatchKeys } from './redis-batch.keys.js';
import {
  CANCEL,
  MARK_FAILED,
  MARK_FINISHED,
  MARK_RUNNING,
  META_FIELD_NAMES,
  PAGE_BY_STATUS,
  PAYLOADS,
  RECORD_OUTCOME,
  REDRIVE,
  RETUNE,
} from './redis-batch.scripts.js';

/** Unfinished batches (and the global indexes) expire after this if nothing finishes them. */
export const UNFINISHED_TTL_SECONDS = 7 * 86400;
/** Fields per HSET / members per ZADD when a batch is written, so no single command is huge. */
const WRITE_SLICE = 1000;
/** Items per payload read, so the script's HMGET stays far below Lua's argument limit. */
const READ_SLICE = 4000;

export interface UnfinishedBatch {
  batchId: string;
  total: number;
  /** Undefined for a batch stored before batches had callers. */
  caller?: string;
}

function unfinishedMember({ batchId, total, caller }: UnfinishedBatch): string {
  return caller === undefined ? `${batchId}:${total}` : `${batchId}:${total}:${caller}`;
}

type ScriptReply = (string | number | null | ScriptReply)[];

interface BatchScripts {
  batchRecordOutcome(...args: (string | number)[]): Promise<number>;
  batchMarkRunning(...args: (string | number)[]): Promise<number>;
  batchMarkFinished(...args: (string | number)[]): Promise<(string | null)[] | null>;
  batchCancel(...args: (string | number)[]): Promise<(string | null)[] | null>;
  batchMarkFailed(...args: (string | number)[]): Promise<(string | null)[] | null>;
  batchRetune(...args: (string | number)[]): Promise<(string | null)[] | null>;
  batchRedrive(...args: (string | number)[]): Promise<(string | number | null)[]>;
  batchPayloads(...args: (string | number)[]): Promise<ScriptReply | null>;
  batchPageByStatus(...args: (string | number)[]): Promise<ScriptReply | null>;
}

/**
 * The part of BatchMeta that never changes after creation, stored as one JSON field; the fields
 * that do change (status, times, `maxWorkers`, failure reason, redrives) are fields of the hash.
 */
type MetaDoc = Omit<
  BatchMeta,
  'status' | 'startedAt' | 'finishedAt' | 'failureReason' | 'redriveCount'
>;

const CANCELLED_OUTCOME: ItemOutcome = {
  status: 'cancelled',
  error: 'Batch cancelled',
  errorCode: 'CANCELLED',
  attempts: 0,
  latencyMs: 0,
};

const SUMMARY_FIELDS = [
  'total',
  'successful',
  'failed',
  'degraded',
  'cancelled',
  'pending',
] as const;

/**
 * The batch store of distributed mode: every replica reads and writes the same batches in Redis
 * (key layout in `RedisBatchKeys`). Costs are what a poll must not grow with the batch:
 * a status page reads O(limit) (outcomes and ids by index with HMGET; a status filter by rank in
 * that status's sorted set); recording an outcome is one script call that moves the item between
 * sets and the counters with it. Redis being unreachable surfaces as `NOT_READY` (503).
 */
@Injectable()
export class RedisBatchStore extends BatchStore {
  private readonly logger = new Logger(RedisBatchStore.name);
  readonly keys: RedisBatchKeys;
  private readonly redis: Redis & BatchScripts;
  private readonly retentionSeconds: number;
  private readonly unfinishedTtlSeconds: number;

  constructor(
    private readonly connection: RedisConnection,
    config: AppConfig,
  ) {
    super();
    this.keys = new RedisBatchKeys(config.redis.keyPrefix);
    this.retentionSeconds = config.batch.retentionSeconds;
    this.unfinishedTtlSeconds = Math.max(UNFINISHED_TTL_SECONDS, this.retentionSeconds);
    const redis = connection.client;
    const define = (name: keyof BatchScripts, lua: string, numberOfKeys: number): void => {
      if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys });
    };
    define('batchRecordOutcome', RECORD_OUTCOME, 6);
    define('batchMarkRunning', MARK_RUNNING, 1);
    define('batchMarkFinished', MARK_FINISHED, 17);
    define('batchCancel', CANCEL, 17);
    define('batchMarkFailed', MARK_FAILED, 17);
    define('batchRetune', RETUNE, 1);
    define('batchRedrive', REDRIVE, 17);
    define('batchPayloads', PAYLOADS, 2);
    define('batchPageByStatus', PAGE_BY_STATUS, 4);
    this.redis = redis as Redis & BatchScripts;
  }

  async create(meta: BatchMeta, payloads: unknown[]): Promise<void> {
    const k = this.keys.of(meta.batchId);
    const { status, startedAt, finishedAt, failureReason: _, redriveCount: __, ...doc } = meta;
    const chunkSize = meta.options.chunkSize;
    const ttl = this.unfinishedTtlSeconds;
    const createdAtMs = Date.parse(meta.createdAt);
    const tx = this.redis.multi();
    // Meta last, so a batch is readable (getMeta) only once the rest is in; MULTI makes it all-or-nothing anyway.
    for (const fields of slices(chunkFields(payloads, chunkSize), WRITE_SLICE))
      tx.hset(k.payloads, ...fields);
    for (const fields of slices(idFields(payloads), WRITE_SLICE)) tx.hset(k.ids, ...fields);
    for (let start = 0; start < payloads.length; start += WRITE_SLICE) {
      const members: number[] = [];
      for (let index = start; index < Math.min(start + WRITE_SLICE, payloads.length); index++)
        members.push(index, index);
      tx.zadd(k.status.pending, ...members);
    }
    tx.hset(k.meta, {
      doc: JSON.stringify(doc satisfies MetaDoc),
      caller: meta.caller,
      status,
      startedAt: startedAt ?? '',
      finishedAt: finishedAt ?? '',
      chunkSize,
      total: payloads.length,
      successful: 0,
      failed: 0,
      degraded: 0,
      cancelled: 0,
      pending: payloads.length,
      latencyMax: 0,
    });
    for (const key of [k.meta, k.payloads, k.ids, k.status.pending]) tx.expire(key, ttl);
    const callerBatches = this.keys.batchesOf(meta.caller);
    tx.zadd(this.keys.batches, createdAtMs, meta.batchId);
    tx.zadd(callerBatches, createdAtMs, meta.batchId);
    tx.zadd(
      this.keys.unfinished,
      createdAtMs,
      unfinishedMember({ batchId: meta.batchId, total: payloads.length, caller: meta.caller }),
    );
    tx.incrby(this.keys.queuedItems, payloads.length);
    tx.hincrby(this.keys.queuedItemsByCaller, meta.caller, payloads.length);
    for (const key of [
      this.keys.batches,
      callerBatches,
      this.keys.unfinished,
      this.keys.queuedItems,
      this.keys.queuedItemsByCaller,
    ])
      tx.expire(key, ttl);
    await this.call(() => tx.exec());
  }

  async claimIdempotencyKey(
    key: string,
    record: IdempotencyRecord,
  ): Promise<IdempotencyRecord | undefined> {
    const idempotencyKey = this.keys.idempotency(key);
    const value = JSON.stringify(record);
    const ttl = this.unfinishedTtlSeconds;
    return this.call(async () => {
      const claimed = await this.redis.set(idempotencyKey, value, 'EX', ttl, 'NX');
      if (claimed === null) {
        const earlier = await this.redis.get(idempotencyKey);
        if (earlier !== null) {
          const existing = JSON.parse(earlier) as IdempotencyRecord;
          // Same rule as in memory: a claim whose batch is gone (expired, or never created) is free.
          if ((await this.redis.exists(this.keys.of(existing.batchId).meta)) === 1) return existing;
        }
        await this.redis.set(idempotencyKey, value, 'EX', ttl);
      }
      await this.redis.set(this.keys.of(record.batchId).idempotencyRef, idempotencyKey, 'EX', ttl);
      return undefined;
    });
  }

  async getMeta(batchId: string): Promise<BatchMeta | undefined> {
    const fields = await this.call(() =>
      this.redis.hmget(this.keys.of(batchId).meta, ...META_FIELD_NAMES),
    );
    return toMeta(fields);
  }

  async getPayloads(batchId: string, start: number, end: number): Promise<unknown[]> {
    const k = this.keys.of(batchId);
    const payloads: unknown[] = [];
    for (let from = start; from < end; from += READ_SLICE) {
      const to = Math.min(from + READ_SLICE, end);
      const reply = await this.call(() => this.redis.batchPayloads(k.meta, k.payloads, from, to));
      if (reply === null) throw new Error(`batch ${batchId} is not in the store`);
      const [chunkSize, firstChunk, ...chunks] = reply as [number, number, ...(string | null)[]];
      const items = chunks.flatMap((chunk) =>
        chunk === null ? [] : (JSON.parse(chunk) as unknown[]),
      );
      const skip = from - firstChunk * chunkSize;
      payloads.push(...items.slice(skip, skip + (to - from)));
    }
    return payloads;
  }

  async recordedIn(batchId: string, start: number, end: number): Promise<boolean[]> {
    if (end <= start) return [];
    const k = this.keys.of(batchId);
    const [exists, pending] = await this.call(() =>
      Promise.all([
        this.redis.exists(k.meta),
        this.redis.zrange(k.status.pending, start, String(end - 1), 'BYSCORE'),
      ]),
    );
    // No pending set also means "all recorded", so only the meta tells an unknown batch apart.
    if (exists === 0) throw new Error(`batch ${batchId} is not in the store`);
    const recorded = new Array<boolean>(end - start).fill(true);
    for (const index of pending) recorded[Number(index) - start] = false;
    return recorded;
  }

  async recordOutcome(batchId: string, index: number, outcome: ItemOutcome): Promise<void> {
    const k = this.keys.of(batchId);
    const timed = outcome.attempts > 0;
    await this.call(() =>
      this.redis.batchRecordOutcome(
        k.meta,
        k.outcomes,
        k.latency,
        k.status.pending,
        k.status.cancelled,
        k.status[outcome.status],
        index,
        JSON.stringify(outcome),
        SUMMARY_FIELD[outcome.status],
        timed ? '1' : '0',
        timed ? latencyBucket(outcome.latencyMs) : 0,
        timed ? outcome.latencyMs : 0,
      ),
    );
    // The worker's next call starts from here: in a check-phase slice, as after a CXone answer.
    await nextSlice();
  }

  async markRunning(batchId: string, startedAt: string): Promise<boolean> {
    const runnable = await this.call(() =>
      this.redis.batchMarkRunning(this.keys.of(batchId).meta, startedAt, this.connection.replicaId),
    );
    return runnable === 1;
  }

  async markFinished(batchId: string, finishedAt: string): Promise<BatchMeta | undefined> {
    const k = this.keys.of(batchId);
    const fields = await this.call(() =>
      this.redis.batchMarkFinished(
        ...this.endKeys(batchId),
        finishedAt,
        this.retentionSeconds,
        batchId,
        newDeliveryId(randomUUID()),
        Date.now(),
      ),
    );
    const meta = toMeta(fields);
    if (meta) await this.expireIdempotencyKey(k.idempotencyRef);
    return meta;
  }

  async cancel(batchId: string, at: string): Promise<BatchMeta | undefined> {
    const k = this.keys.of(batchId);
    const fields = await this.call(() =>
      this.redis.batchCancel(
        ...this.endKeys(batchId),
        at,
        this.retentionSeconds,
        batchId,
        this.keys.cancelChannel,
        newDeliveryId(randomUUID()),
        Date.now(),
      ),
    );
    const meta = toMeta(fields);
    if (meta?.finishedAt) await this.expireIdempotencyKey(k.idempotencyRef);
    return meta;
  }

  async markFailed(
    batchId: string,
    reason: FailureReason,
    at: string,
  ): Promise<BatchMeta | undefined> {
    const k = this.keys.of(batchId);
    const fields = await this.call(() =>
      this.redis.batchMarkFailed(
        ...this.endKeys(batchId),
        at,
        this.retentionSeconds,
        batchId,
        reason,
        newDeliveryId(randomUUID()),
        Date.now(),
      ),
    );
    const meta = toMeta(fields);
    if (meta) await this.expireIdempotencyKey(k.idempotencyRef);
    return meta;
  }

  async retune(batchId: string, maxWorkers: number): Promise<BatchMeta | undefined> {
    const fields = await this.call(() =>
      this.redis.batchRetune(this.keys.of(batchId).meta, maxWorkers),
    );
    return toMeta(fields);
  }

  async redrive(batchId: string, statuses: readonly RedrivableStatus[]): Promise<RedriveResult> {
    const current = await this.getMeta(batchId);
    if (!current) return { refused: 'unknown' };
    const k = this.keys.of(batchId);
    const reply = await this.call(() =>
      this.redis.batchRedrive(
        ...this.endKeys(batchId),
        this.unfinishedTtlSeconds,
        batchId,
        Date.parse(current.createdAt),
        ...statuses,
      ),
    );
    const [answer, redriven, ...fields] = reply;
    if (answer !== 'ok') return { refused: answer as 'unknown' | 'unfinished' | 'no-match' };
    const meta = toMeta(fields as (string | null)[]);
    if (!meta) return { refused: 'unknown' };
    await this.expireIdempotencyKey(k.idempotencyRef, this.unfinishedTtlSeconds);
    return { redriven: Number(redriven), meta };
  }

  async summary(batchId: string): Promise<BatchSummary> {
    const values = await this.call(() =>
      this.redis.hmget(this.keys.of(batchId).meta, ...SUMMARY_FIELDS),
    );
    if (values[0] === null) throw new Error(`batch ${batchId} is not in the store`);
    return Object.fromEntries(
      SUMMARY_FIELDS.map((field, i) => [field, Number(values[i])]),
    ) as unknown as BatchSummary;
  }

  async latency(batchId: string): Promise<LatencySummary> {
    const k = this.keys.of(batchId);
    const [buckets, [total, max]] = await this.call(() =>
      Promise.all([this.redis.hgetall(k.latency), this.redis.hmget(k.meta, 'total', 'latencyMax')]),
    );
    if (total === null) throw new Error(`batch ${batchId} is not in the store`);
    const counts = new Map<number, number>();
    for (const [bucket, count] of Object.entries(buckets))
      counts.set(Number(bucket), Number(count));
    return summarizeLatency(counts, Number(max ?? 0));
  }

  async page(
    batchId: string,
    offset: number,
    limit: number,
    status?: ItemStatus,
  ): Promise<ItemPage> {
    const k = this.keys.of(batchId);
    if (status !== undefined) {
      const reply = await this.call(() =>
        this.redis.batchPageByStatus(k.meta, k.status[status], k.outcomes, k.ids, offset, limit),
      );
      if (reply === null) throw new Error(`batch ${batchId} is not in the store`);
      const [total, indexes, outcomes, ids] = reply as [
        number,
        string[],
        (string | null)[],
        (string | null)[],
      ];
      const items = indexes.map((index, i) =>
        storedItem(
          Number(index),
          ids[i],
          outcomes[i],
          status === 'cancelled' ? CANCELLED_OUTCOME : undefined,
        ),
      );
      return { items, total };
    }
    const total = await this.call(() => this.redis.hget(k.meta, 'total'));
    if (total === null) throw new Error(`batch ${batchId} is not in the store`);
    const indexes: string[] = [];
    for (let index = offset; index < Math.min(offset + limit, Number(total)); index++)
      indexes.push(String(index));
    if (indexes.length === 0) return { items: [], total: Number(total) };
    const [outcomes, ids] = await this.call(() =>
      Promise.all([this.redis.hmget(k.outcomes, ...indexes), this.redis.hmget(k.ids, ...indexes)]),
    );
    // An item with no outcome is pending, or was cancelled (cancel stores no per-item outcome):
    // the pending set tells which.
    const unrecorded = indexes.filter((_, i) => outcomes[i] === null);
    const pendingScores =
      unrecorded.length === 0
        ? []
        : await this.call(() => this.redis.zmscore(k.status.pending, ...unrecorded));
    const pending = new Set(unrecorded.filter((_, i) => pendingScores[i] !== null));
    const items = indexes.map((index, i) =>
      storedItem(
        Number(index),
        ids[i],
        outcomes[i],
        pending.has(index) ? undefined : CANCELLED_OUTCOME,
      ),
    );
    return { items, total: Number(total) };
  }

  async list(
    limit: number,
    cursor?: string,
    caller?: string,
  ): Promise<{ batches: BatchListEntry[]; nextCursor: string | null }> {
    const after = cursor !== undefined ? decodeCursor(cursor) : undefined;
    const listKey = caller === undefined ? this.keys.batches : this.keys.batchesOf(caller);
    const found: { entry: BatchListEntry; score: number }[] = [];
    const expired: string[] = [];
    let offset = 0;
    const fetch = limit + 1;
    for (;;) {
      const max = after ? String(after.score) : '+inf';
      const window = await this.call(() =>
        this.redis.zrange(
          listKey,
          max,
          '-inf',
          'BYSCORE',
          'REV',
          'LIMIT',
          offset,
          fetch,
          'WITHSCORES',
        ),
      );
      offset += window.length / 2;
      const candidates: { batchId: string; score: number }[] = [];
      for (let i = 0; i < window.length; i += 2) {
        const batchId = window[i];
        const score = Number(window[i + 1]);
        // Same creation millisecond as the cursor: only members after it (reverse lexical order).
        if (after && score === after.score && batchId >= after.batchId) continue;
        candidates.push({ batchId, score });
      }
      const rows = await this.call(() =>
        Promise.all(
          candidates.map(({ batchId }) =>
            this.redis.hmget(this.keys.of(batchId).meta, 'doc', 'status', ...SUMMARY_FIELDS),
          ),
        ),
      );
      candidates.forEach(({ batchId, score }, i) => {
        const [doc, status, ...counts] = rows[i];
        if (doc === null) {
          expired.push(batchId);
          return;
        }
        const { actionId, createdAt, caller: owner } = JSON.parse(doc) as Partial<MetaDoc>;
        const summary = Object.fromEntries(
          SUMMARY_FIELDS.map((field, j) => [field, Number(counts[j])]),
        );
        found.push({
          entry: {
            batchId,
            actionId: actionId as string,
            caller: owner ?? DEFAULT_CALLER,
            status: status as BatchStatus,
            createdAt: createdAt as string,
            summary: summary as unknown as BatchSummary,
          },
          score,
        });
      });
      if (found.length > limit || window.length < fetch * 2) break;
    }
    if (expired.length > 0) {
      // Batches past their retention leave their list entry behind; drop it on the way.
      await this.call(() => this.redis.zrem(listKey, ...expired));
    }
    const page = found.slice(0, limit);
    const last = page.at(-1);
    const nextCursor =
      found.length > limit && last ? encodeCursor(last.score, last.entry.batchId) : null;
    return { batches: page.map(({ entry }) => entry), nextCursor };
  }

  async ping(): Promise<void> {
    await this.connection.ping();
  }

  /** Items of batches accepted and not finished, over all replicas (the intake limit). */
  async unfinishedItems(): Promise<number> {
    const value = await this.call(() => this.redis.get(this.keys.queuedItems));
    return Math.max(0, Number(value ?? 0));
  }

  async unfinishedItemsOf(caller: string): Promise<number> {
    const value = await this.call(() => this.redis.hget(this.keys.queuedItemsByCaller, caller));
    return Math.max(0, Number(value ?? 0));
  }

  /** Unfinished batches created before `before` (epoch ms), oldest first, at most `limit`. */
  async unfinishedBefore(before: number, limit: number): Promise<UnfinishedBatch[]> {
    const members = await this.call(() =>
      this.redis.zrange(this.keys.unfinished, '-inf', String(before), 'BYSCORE', 'LIMIT', 0, limit),
    );
    return members.map((member) => {
      const [batchId, total, caller] = member.split(':');
      return { batchId, total: Number(total), ...(caller === undefined ? {} : { caller }) };
    });
  }

  /** Forgets an unfinished batch that expired before it finished, so the intake count does not leak. */
  async forgetUnfinished(batch: UnfinishedBatch): Promise<void> {
    const { batchId, total, caller } = batch;
    await this.call(async () => {
      if ((await this.redis.zrem(this.keys.unfinished, unfinishedMember(batch))) === 0) return;
      const queued = Number((await this.redis.get(this.keys.queuedItems)) ?? 0);
      await this.redis.decrby(this.keys.queuedItems, Math.min(total, Math.max(queued, 0)));
      if (caller !== undefined) {
        const left = Number((await this.redis.hget(this.keys.queuedItemsByCaller, caller)) ?? 0);
        if (left > total) await this.redis.hincrby(this.keys.queuedItemsByCaller, caller, -total);
        else await this.redis.hdel(this.keys.queuedItemsByCaller, caller);
      }
      this.logger.warn({ batch_id: batchId, caller }, 'Batch expired before it finished');
    });
  }

  /** The keys of the scripts that end a batch, the callback outbox's included. */
  private endKeys(batchId: string): string[] {
    const k = this.keys.of(batchId);
    return [
      ...k.all,
      this.keys.unfinished,
      this.keys.queuedItems,
      this.keys.queuedItemsByCaller,
      k.callback,
      this.keys.callbacksDue,
      this.keys.callbacksPending,
    ];
  }

  /** The Idempotency-Key that created the batch lives as long as the batch (by default: retention). */
  private async expireIdempotencyKey(
    refKey: string,
    seconds = this.retentionSeconds,
  ): Promise<void> {
    await this.call(async () => {
      const idempotencyKey = await this.redis.get(refKey);
      if (idempotencyKey !== null) await this.redis.expire(idempotencyKey, seconds);
    });
  }

  /** Runs Redis commands; "Redis cannot be reached" becomes NOT_READY, anything else propagates. */
  private async call<T>(operation: () => Promise<T>): Promise<T> {
    this.connection.assertResponsive('The batch store');
    try {
      return await operation();
    } catch (error) {
      this.connection.noteFailure(error);
      if (!isRedisUnavailable(error)) throw error;
      throw notReady('The batch store', error);
    }
  }
}

/** A batch's meta from its hash fields, in `META_FIELD_NAMES` order. */
function toMeta(fields: (string | null)[] | null): BatchMeta | undefined {
  if (!fields || !fields[0]) return undefined;
  const [doc, status, startedAt, finishedAt, maxWorkers, failureReason, redriveCount] = fields;
  const stored = JSON.parse(doc) as Omit<MetaDoc, 'caller'> & { caller?: string };
  return {
    ...stored,
    // A batch stored before batches had callers belongs to the caller of a bare key.
    caller: stored.caller ?? DEFAULT_CALLER,
    options: maxWorkers ? { ...stored.options, maxWorkers: Number(maxWorkers) } : stored.options,
    status: status as BatchStatus,
    startedAt: startedAt || null,
    finishedAt: finishedAt || null,
    ...(failureReason ? { failureReason: failureReason as FailureReason } : {}),
    ...(redriveCount ? { redriveCount: Number(redriveCount) } : {}),
  };
}

function storedItem(
  index: number,
  id: string | null,
  outcome: string | null,
  missing: ItemOutcome | undefined,
): StoredItem {
  return {
    index,
    id: id === null ? String(index) : (JSON.parse(id) as string | number),
    outcome: outcome === null ? missing : (JSON.parse(outcome) as ItemOutcome),
  };
}

/** `[chunkNumber, JSON of the chunk's payloads, …]` for HSET. */
function chunkFields(payloads: unknown[], chunkSize: number): (string | number)[] {
  const fields: (string | number)[] = [];
  for (let start = 0, chunk = 0; start < payloads.length; start += chunkSize, chunk++) {
    fields.push(chunk, JSON.stringify(payloads.slice(start, start + chunkSize)));
  }
  return fields;
}

/** `[index, JSON of the id, …]` for payloads that carry their own id (the others default to the index). */
function idFields(payloads: unknown[]): (string | number)[] {
  const fields: (string | number)[] = [];
  payloads.forEach((payload, index) => {
    const id = ownIdOf(payload);
    if (id !== undefined) fields.push(index, JSON.stringify(id));
  });
  return fields;
}

/** Field/value pairs in slices of at most `size` pairs. */
function* slices(fields: (string | number)[], size: number): Generator<(string | number)[]> {
  for (let start = 0; start < fields.length; start += size * 2)
    yield fields.slice(start, start + size * 2);
}

function encodeCursor(score: number, batchId: string): string {
  return Buffer.from(`${score}:${batchId}`).toString('base64url');
}

function decodeCursor(cursor: string): { score: number; batchId: string } {
  const match = /^([0-9]{1,16}):([A-Za-z0-9._-]{1,128})$/.exec(
    Buffer.from(cursor, 'base64url').toString(),
  );
  if (!match) {
    throw new ValidationFailedError([
      { field: 'cursor', message: 'is not a cursor this service issued' },
    ]);
  }
  return { score: Number(match[1]), batchId: match[2] };
}
