import { createHash } from 'node:crypto';
import { ITEM_STATUSES, type ItemStatus } from '../core/batch.types.js';

/**
 * Where a batch lives in Redis, every key under REDIS_KEY_PREFIX. A batch's keys share the hash
 * tag `{<batchId>}`, so the scripts that touch several of them stay on one slot.
 *
 * | key                                   | type   | holds                                              |
 * | ------------------------------------- | ------ | -------------------------------------------------- |
 * | `batch:{id}:meta`                     | hash   | `doc` (immutable meta JSON), status, timestamps,   |
 * |                                       |        | summary counters, `latencyMax`, `owner` (the       |
 * |                                       |        | replica running it), `caller` (who submitted it),  |
 * |                                       |        | and once set `maxWorkers` (PATCH),                 |
 * |                                       |        | `failureReason`, `redriveCount`                    |
 * | `batch:{id}:payloads`                 | hash   | chunk number → JSON array of that chunk's payloads |
 * | `batch:{id}:ids`                      | hash   | index → item id (only payloads with an `id`)       |
 * | `batch:{id}:outcomes`                 | hash   | index → outcome JSON                               |
 * | `batch:{id}:latency`                  | hash   | histogram bucket → count                           |
 * | `batch:{id}:status:<status>`          | zset   | indexes in that status (score = index)             |
 * | `batch:{id}:idempotency`              | string | name of the idempotency key that created it        |
 * | `batch:{id}:callback`                 | hash   | its callback delivery, written when it ends        |
 * | `idempotency:<sha256 of the key>`     | string | `{batchId, bodyHash}`                              |
 * | `batches`                             | zset   | batch id by creation time (the list, newest first) |
 * | `batches:caller:<caller>`             | zset   | the same, of one caller's batches                  |
 * | `unfinished`                          | zset   | `<id>:<total>:<caller>` by creation time, until    |
 * |                                       |        | the batch finishes                                 |
 * | `queued-items`                        | string | items of unfinished batches (the intake limit)     |
 * | `queued-items-by-caller`              | hash   | caller → items of its unfinished batches           |
 * | `callbacks:due`                       | zset   | batch id of a pending delivery by when it is due   |
 * |                                       |        | (next attempt, or the end of an attempt's claim)   |
 * | `callbacks:pending`                   | zset   | batch id of a pending delivery by when it was      |
 * |                                       |        | written (the oldest pending delivery's age)        |
 * | `events:cancel` (pub/sub channel)     |        | batch ids cancelled, to the replica running them   |
 */
export class RedisBatchKeys {
  readonly batches: string;
  readonly unfinished: string;
  readonly queuedItems: string;
  readonly queuedItemsByCaller: string;
  readonly cancelChannel: string;
  readonly callbacksDue: string;
  readonly callbacksPending: string;

  constructor(readonly prefix: string) {
    this.callbacksDue = `${prefix}callbacks:due`;
    this.callbacksPending = `${prefix}callbacks:pending`;
    this.batches = `${prefix}batches`;
    this.unfinished = `${prefix}unfinished`;
    this.queuedItems = `${prefix}queued-items`;
    this.queuedItemsByCaller = `${prefix}queued-items-by-caller`;
    this.cancelChannel = `${prefix}events:cancel`;
  }

  of(batchId: string): BatchKeys {
    const base = `${this.prefix}batch:{${batchId}}`;
    const status = Object.fromEntries(
      ITEM_STATUSES.map((s) => [s, `${base}:status:${s}`]),
    ) as Record<ItemStatus, string>;
    return {
      meta: `${base}:meta`,
      payloads: `${base}:payloads`,
      ids: `${base}:ids`,
      outcomes: `${base}:outcomes`,
      latency: `${base}:latency`,
      idempotencyRef: `${base}:idempotency`,
      callback: `${base}:callback`,
      status,
      all: [
        `${base}:meta`,
        `${base}:payloads`,
        `${base}:ids`,
        `${base}:outcomes`,
        `${base}:latency`,
        `${base}:idempotency`,
        ...ITEM_STATUSES.map((s) => status[s]),
      ],
    };
  }

  /** The list of one caller's batches. */
  batchesOf(caller: string): string {
    return `${this.prefix}batches:caller:${caller}`;
  }

  idempotency(key: string): string {
    return `${this.prefix}idempotency:${createHash('sha256').update(key).digest('hex')}`;
  }
}

export interface BatchKeys {
  meta: string;
  payloads: string;
  ids: string;
  outcomes: string;
  latency: string;
  idempotencyRef: string;
  /** Not in `all`: it gets the retention TTL when it is written, at the batch's end. */
  callback: string;
  status: Record<ItemStatus, string>;
  /** Every key of the batch (the ones the retention TTL applies to). */
  all: string[];
}
