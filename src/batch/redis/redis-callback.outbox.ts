import { Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { CallbackOutbox, type ClaimResult } from '../../callback/core/callback-outbox.js';
import {
  interruptedLastAttempt,
  type AttemptVerdict,
  type CallbackState,
  type ClaimedDelivery,
  type DeliveryStatus,
} from '../../callback/core/callback.types.js';
import { AppConfig } from '../../config/app-config.js';
import { isRedisUnavailable, notReady, RedisConnection } from '../../redis/redis.connection.js';
import { RedisBatchKeys } from './redis-batch.keys.js';
import { CALLBACK_CLAIM, CALLBACK_SETTLE, CLAIMED_FIELDS } from './redis-batch.scripts.js';

interface OutboxScripts {
  callbackClaim(...args: (string | number)[]): Promise<(string | null)[] | 'exhausted' | null>;
  callbackSettle(...args: (string | number)[]): Promise<number>;
}

/**
 * The callback outbox of distributed mode, beside the batches in Redis: the scripts that end a
 * batch (`MARK_FINISHED`, `CANCEL`) write the delivery, and any replica claims due deliveries by
 * script, one attempt at a time; a claim whose replica died lapses after its lease and the
 * delivery is claimed again elsewhere, with the same id. Key layout in `RedisBatchKeys`.
 */
@Injectable()
export class RedisCallbackOutbox extends CallbackOutbox {
  private readonly keys: RedisBatchKeys;
  private readonly redis: Redis & OutboxScripts;

  constructor(
    private readonly connection: RedisConnection,
    config: AppConfig,
  ) {
    super();
    this.keys = new RedisBatchKeys(config.redis.keyPrefix);
    const redis = connection.client;
    if (!('callbackClaim' in redis))
      redis.defineCommand('callbackClaim', { lua: CALLBACK_CLAIM, numberOfKeys: 3 });
    if (!('callbackSettle' in redis))
      redis.defineCommand('callbackSettle', { lua: CALLBACK_SETTLE, numberOfKeys: 3 });
    this.redis = redis as Redis & OutboxScripts;
  }

  async claimDue(
    now: number,
    leaseMs: number,
    limit: number,
    maxAttempts: number,
  ): Promise<ClaimResult> {
    const due = await this.call(() =>
      this.redis.zrange(this.keys.callbacksDue, '-inf', String(now), 'BYSCORE', 'LIMIT', 0, limit),
    );
    const claimed: ClaimedDelivery[] = [];
    let exhausted = 0;
    for (const batchId of due) {
      // Another replica may claim the same one between the read and here: the script decides.
      const reply = await this.call(() =>
        this.redis.callbackClaim(
          ...this.outboxKeys(batchId),
          batchId,
          now,
          leaseMs,
          maxAttempts,
          interruptedLastAttempt(maxAttempts),
        ),
      );
      if (reply === 'exhausted') exhausted += 1;
      else if (reply !== null) claimed.push(claimedOf(batchId, reply));
    }
    return { claimed, exhausted };
  }

  async settle(delivery: ClaimedDelivery, verdict: AttemptVerdict): Promise<boolean> {
    const recorded = await this.call(() =>
      this.redis.callbackSettle(
        ...this.outboxKeys(delivery.batchId),
        delivery.batchId,
        delivery.id,
        delivery.attempt,
        verdict.kind,
        verdict.kind === 'delivered' ? '' : verdict.error,
        verdict.kind === 'retry' ? verdict.nextAttemptAt : 0,
        verdict.kind === 'delivered' ? verdict.at : '',
      ),
    );
    return recorded === 1;
  }

  async stateOf(batchId: string): Promise<CallbackState | undefined> {
    const [status, attempts, lastError, deliveredAt] = await this.call(() =>
      this.redis.hmget(
        this.keys.of(batchId).callback,
        'status',
        'attempts',
        'lastError',
        'deliveredAt',
      ),
    );
    if (status === null) return undefined;
    return {
      status: status as DeliveryStatus,
      attempts: Number(attempts ?? 0),
      lastError: lastError || null,
      deliveredAt: deliveredAt || null,
    };
  }

  async pendingSummary(): Promise<{ count: number; oldestSince: number | undefined }> {
    const [count, oldest] = await this.call(() =>
      Promise.all([
        this.redis.zcard(this.keys.callbacksPending),
        this.redis.zrange(this.keys.callbacksPending, '0', '0', 'WITHSCORES'),
      ]),
    );
    return { count, oldestSince: oldest.length === 2 ? Number(oldest[1]) : undefined };
  }

  private outboxKeys(batchId: string): string[] {
    return [this.keys.of(batchId).callback, this.keys.callbacksDue, this.keys.callbacksPending];
  }

  /** As the batch store's calls: "Redis cannot be reached" becomes NOT_READY. */
  private async call<T>(operation: () => Promise<T>): Promise<T> {
    this.connection.assertResponsive('The callback outbox');
    try {
      return await operation();
    } catch (error) {
      this.connection.noteFailure(error);
      if (!isRedisUnavailable(error)) throw error;
      throw notReady('The callback outbox', error);
    }
  }
}

function claimedOf(batchId: string, reply: (string | null)[]): ClaimedDelivery {
  const field = Object.fromEntries(
    CLAIMED_FIELDS.map((name, i) => [name, reply[i] ?? '']),
  ) as Record<(typeof CLAIMED_FIELDS)[number], string>;
  return {
    id: field.id,
    batchId,
    url: field.url,
    caller: field.caller,
    report: {
      batchId,
      status: field.batchStatus,
      summary: {
        total: Number(field.total),
        successful: Number(field.successful),
        failed: Number(field.failed),
        degraded: Number(field.degraded),
        cancelled: Number(field.cancelled),
        pending: Number(field.pending),
      },
      traceId: field.traceId,
    },
    attempt: Number(field.attempts),
  };
}
