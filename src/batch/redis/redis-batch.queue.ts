import {
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { Queue, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { settlesWithin, within } from '../../lib/settles-within.js';
import { AppConfig } from '../../config/app-config.js';
import { notReady, RedisConnection } from '../../redis/redis.connection.js';
import { BatchQueue } from '../core/batch.queue.js';
import { BatchRunInterrupted, BatchRunner } from '../core/batch.runner.js';
import type { BatchMeta } from '../core/batch.types.js';
import { JobLockKeeper } from './job-lock-keeper.js';
import { RedisBatchStore } from './redis-batch.store.js';

export const BATCH_QUEUE_NAME = 'batches';

interface BatchJob {
  batchId: string;
  total: number;
}

/**
 * The BullMQ job id of the batch's current run: the batch id, then one id per redrive (the job
 * of the run before may still be completing when the batch is redriven; BullMQ would take an
 * add under its id for the same job).
 */
export function jobIdOf(meta: BatchMeta): string {
  const redrives = meta.redriveCount ?? 0;
  return redrives === 0 ? meta.batchId : `${meta.batchId}-redrive-${redrives}`;
}

/**
 * The lock is renewed every quarter of its length and the stalled check runs as often. A killed
 * replica's lock expires at most QUEUE_LOCK_SECONDS after the kill; the check moves a job it
 * finds unlocked if the check before had marked it (renewals unmark), and a surviving replica
 * runs a check at most two intervals after another: the batch runs again elsewhere within about
 * 1.5 × QUEUE_LOCK_SECONDS. (With BullMQ's defaults, a check every lock length, up to 3 ×.)
 */
const LOCK_RENEWALS_PER_LOCK = 4;
/** A replica that died this many times on one batch (stalled job) is not a reason to give up on it. */
const MAX_STALLED_COUNT = 100;
/** A job whose run failed (store unreachable for 10 minutes…) is retried this often, backing off. */
const JOB_ATTEMPTS = 5;
const JOB_BACKOFF_MS = 10_000;
const ENQUEUE_TIMEOUT_MS = 5000;
const RUN_RETRY_DELAY_MS = 2000;
/** Closing BullMQ's connections never holds the shutdown longer than this. */
const CLOSE_TIMEOUT_MS = 2000;
/** How often a replica looks for accepted batches that have no job (their enqueue failed). */
const ORPHAN_SWEEP_MS = 30_000;
const ORPHAN_MIN_AGE_MS = 30_000;
/** The worker fetches jobs once their locks can be renewed, or after this if Redis is not there. */
const LOCK_KEEPER_READY_WAIT_MS = 5000;

/**
 * Distributed mode: accepted batches are BullMQ jobs, one job per batch, and every replica runs a
 * worker taking up to QUEUE_CONCURRENCY batches at once.
 *
 * One job per batch keeps `max_workers` exact with no distributed semaphore: the one replica that
 * holds the job runs all of the batch's calls (the runner skips items already recorded when a
 * job is resumed elsewhere). A replica that dies stops renewing the job's lock; once it expired
 * (QUEUE_LOCK_SECONDS) BullMQ's stalled check moves the job back to wait and another replica
 * resumes the batch, so only the calls in flight at the kill (≤ max_workers) run twice. The locks
 * are renewed from a thread of their own (JobLockKeeper), so a busy main thread keeps them.
 * On shutdown, running batches stop scheduling, their calls in flight finish, and their jobs go
 * back to wait for another replica (not failed).
 */
@Injectable()
export class RedisBatchQueue
  extends BatchQueue
  implements OnModuleInit, OnModuleDestroy, OnApplicationShutdown
{
  private readonly logger = new Logger(RedisBatchQueue.name);
  private queue: Queue<BatchJob> | undefined;
  private worker: Worker<BatchJob> | undefined;
  private subscriber: Redis | undefined;
  private lockKeeper: JobLockKeeper | undefined;
  private readonly shutdown = new AbortController();
  private orphanSweep: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  /** Jobs this replica is processing now. */
  private readonly active = new Set<Promise<void>>();

  constructor(
    private readonly config: AppConfig,
    private readonly connection: RedisConnection,
    private readonly store: RedisBatchStore,
    private readonly runner: BatchRunner,
  ) {
    super();
  }

  onModuleInit(): void {
    const prefix = `${this.config.redis.keyPrefix}bull`;
    const lockMs = this.config.redis.queueLockSeconds * 1000;
    this.queue = new Queue<BatchJob>(BATCH_QUEUE_NAME, {
      prefix,
      connection: this.connection.bullConnection('producer'),
      defaultJobOptions: {
        attempts: JOB_ATTEMPTS,
        backoff: { type: 'exponential', delay: JOB_BACKOFF_MS },
        removeOnComplete: true,
        removeOnFail: { age: this.config.batch.retentionSeconds },
      },
    });
    this.queue.on('error', (error) => this.logger.debug(`BullMQ queue: ${error.message}`));
    this.worker = new Worker<BatchJob>(
      BATCH_QUEUE_NAME,
      (job, token, signal) => this.process(job, token, signal),
      {
        prefix,
        name: this.connection.replicaId,
        connection: this.connection.bullConnection('worker'),
        concurrency: this.config.redis.queueConcurrency,
        lockDuration: lockMs,
        skipLockRenewal: true,
        stalledInterval: lockMs / LOCK_RENEWALS_PER_LOCK,
        maxStalledCount: MAX_STALLED_COUNT,
        // After a Redis outage the worker fetches again within this (BullMQ's default is 15 s).
        runRetryDelay: RUN_RETRY_DELAY_MS,
        autorun: false,
      },
    );
    // Without a listener an 'error' event would crash the process; Redis outages are reported
    // once by the connection, so these stay at debug.
    this.worker.on('error', (error) => this.logger.debug(`BullMQ worker: ${error.message}`));
    this.worker.on('failed', (job, error) => {
      if (job) this.logger.error({ batch_id: job.data.batchId, err: error }, 'Batch job failed');
    });
    const worker = this.worker;
    this.lockKeeper = new JobLockKeeper({
      url: this.connection.url,
      connectionName: `cxo:locks:${this.connection.replicaId}`,
      jobKeyPrefix: worker.toKey(''),
      stalledKey: worker.keys.stalled,
      lockMs,
      renewMs: lockMs / LOCK_RENEWALS_PER_LOCK,
      // Another replica owns the job now (this one lost its lock): stop running the batch here.
      onLost: (jobIds) => {
        for (const jobId of jobIds) {
          this.logger.warn({ batch_id: jobId }, 'Batch lock lost; stopping the batch here');
          worker.cancelJob(jobId, 'lock lost');
        }
      },
    });
    this.lockKeeper.start();
    // A job taken before the keeper's thread is up could lose its lock before the first renewal.
    void settlesWithin(this.lockKeeper.ready, LOCK_KEEPER_READY_WAIT_MS).then(() => {
      if (this.shutdown.signal.aborted) return;
      worker.run().catch((error: Error) => this.logger.error(`BullMQ worker: ${error.message}`));
    });

    this.subscriber = this.connection.createSubscriber();
    this.subscriber.on('message', (_channel, batchId: string) => this.runner.stop(batchId));
    this.subscriber.subscribe(this.store.keys.cancelChannel).catch((error: Error) => {
      this.logger.warn(
        `Cancel channel subscription failed (cancel then acts per chunk): ${error.message}`,
      );
    });

    this.orphanSweep = setInterval(() => void this.enqueueOrphans(), ORPHAN_SWEEP_MS).unref();
  }

  async enqueue(meta: BatchMeta): Promise<void> {
    await this.add(meta);
  }

  /** Items of every unfinished batch, whichever replica runs it: in this mode the limit is cluster-wide. */
  queuedItems(): Promise<number> {
    return this.store.unfinishedItems();
  }

  close(graceMs: number): Promise<void> {
    this.closing ??= this.closeWithin(graceMs);
    return this.closing;
  }

  /**
   * Drains here as well as when BatchLifecycle calls close() (both on module destroy):
   * Nest destroys this module before the ones it imports, so the CXone client and the cache are
   * still open while the calls in flight finish. close() then returns the same drain.
   */
  async onModuleDestroy(): Promise<void> {
    await this.close(this.config.shutdownGraceSeconds * 1000);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close(0);
  }

  private async closeWithin(graceMs: number): Promise<void> {
    clearInterval(this.orphanSweep);
    const worker = this.worker;
    if (worker) {
      // Interrupt the running batches (their calls in flight finish, their jobs go back to
      // wait, see process()) and stop fetching; then close, by force once the grace is spent.
      this.shutdown.abort();
      await worker.pause(true).catch(() => undefined);
      const graceful = await settlesWithin(Promise.allSettled(this.active), graceMs);
      if (!graceful) {
        this.logger.warn(
          `Batches still running after ${graceMs} ms; their jobs return to the queue when their lock expires`,
        );
      }
      await settlesWithin(worker.close(!graceful), CLOSE_TIMEOUT_MS);
    }
    await settlesWithin(
      Promise.allSettled([this.queue?.close(), this.subscriber?.quit(), this.lockKeeper?.close()]),
      CLOSE_TIMEOUT_MS,
    );
    this.subscriber?.disconnect();
  }

  private async process(
    job: Job<BatchJob>,
    token: string | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    if (job.id && token) this.lockKeeper?.hold(job.id, token);
    const run = this.runJob(job, token, signal);
    this.active.add(run);
    try {
      await run;
    } finally {
      this.active.delete(run);
      if (job.id) this.lockKeeper?.release(job.id);
    }
  }

  private async runJob(
    job: Job<BatchJob>,
    token: string | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    const stop = signal ? AbortSignal.any([signal, this.shutdown.signal]) : this.shutdown.signal;
    try {
      await this.runner.run(job.data.batchId, stop);
    } catch (error) {
      if (!(error instanceof BatchRunInterrupted)) throw error;
      if (this.shutdown.signal.aborted && token) {
        // Shutting down: give the batch back to the queue for another replica, not failed.
        await job.moveToWait(token);
        this.logger.log({ batch_id: job.data.batchId }, 'Batch handed back to the queue');
        throw new WaitingError();
      }
      throw error;
    }
  }

  private async add(meta: BatchMeta): Promise<void> {
    const { batchId, total } = meta;
    const queue = this.queue;
    if (!queue) throw notReady('The batch queue');
    try {
      // One job id per run of the batch: adding it twice (the orphan sweep racing) makes one job.
      const added = queue.add('run', { batchId, total }, { jobId: jobIdOf(meta) });
      await within(added, ENQUEUE_TIMEOUT_MS, 'enqueue timed out');
    } catch (error) {
      this.logger.warn({ batch_id: batchId, err: error }, 'Could not enqueue the batch');
      throw notReady('The batch queue');
    }
  }

  /**
   * A batch is stored before its job is added; if the add failed (Redis lost in between) the
   * request was answered 503 but the batch exists, and an Idempotency-Key retry would return it.
   * Any replica gives such batches a job.
   */
  private async enqueueOrphans(): Promise<void> {
    const queue = this.queue;
    if (!queue || this.shutdown.signal.aborted) return;
    try {
      const unfinished = await this.store.unfinishedBefore(Date.now() - ORPHAN_MIN_AGE_MS, 100);
      for (const batch of unfinished) {
        const meta = await this.store.getMeta(batch.batchId);
        if (!meta) {
          if ((await queue.getJobState(batch.batchId)) === 'unknown')
            await this.store.forgetUnfinished(batch);
        } else if (
          meta.finishedAt === null &&
          (await queue.getJobState(jobIdOf(meta))) === 'unknown'
        ) {
          this.logger.warn({ batch_id: batch.batchId }, 'Batch had no job; enqueuing it');
          await this.add(meta);
        }
      }
    } catch (error) {
      this.logger.debug(
        `Orphan sweep skipped: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}
