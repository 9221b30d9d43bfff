import { Logger } from '@nestjs/common';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type {
  LockKeeperReport,
  LockKeeperRequest,
  LockKeeperThreadData,
} from './job-lock-keeper.thread.js';

const HEARTBEAT_MS = 1000;
/**
 * A main thread silent this long is taken as hung, and its jobs are let go to other replicas.
 * Longer than the liveness probe of the Kubernetes manifests lets a blocked process live, so
 * there the kubelet restarts such a replica first.
 */
const HUNG_AFTER_MS = 60_000;
const RESTART_DELAY_MS = 1000;

export interface JobLockKeeperOptions {
  url: string;
  connectionName: string;
  jobKeyPrefix: string;
  stalledKey: string;
  lockMs: number;
  renewMs: number;
  /** How long the main thread may be silent before its locks are let go (default 60 s). */
  hungAfterMs?: number;
  /** Jobs whose lock another worker holds now (or that expired): stop running them here. */
  onLost(jobIds: string[]): void;
}

/**
 * Renews the BullMQ locks of the jobs this replica runs from a worker thread, in place of
 * BullMQ's own renewal (a timer on the main thread). A synchronous stretch on the main thread
 * longer than half the lock (parsing a large body, a long GC pause, CPU throttling under a
 * container limit) would otherwise let a lock expire while the batch still runs here: another
 * replica would start it too and repeat the calls in flight. The thread stops renewing when the
 * main thread has not beaten for HUNG_AFTER_MS, so a hung process does not hold batches for ever.
 */
export class JobLockKeeper {
  private readonly logger = new Logger(JobLockKeeper.name);
  private readonly held = new Map<string, string>();
  private readonly heartbeat = new BigInt64Array(new SharedArrayBuffer(8));
  private thread: Worker | undefined;
  private beat: NodeJS.Timeout | undefined;
  private restart: NodeJS.Timeout | undefined;
  private closed = false;
  private markReady: () => void = () => undefined;
  /** Resolves once the thread can renew locks (its Redis connection is up). */
  readonly ready = new Promise<void>((resolve) => (this.markReady = resolve));

  constructor(private readonly options: JobLockKeeperOptions) {}

  start(): void {
    this.beatNow();
    this.beat = setInterval(() => this.beatNow(), HEARTBEAT_MS).unref();
    this.spawn();
  }

  hold(jobId: string, token: string): void {
    this.held.set(jobId, token);
    this.send({ kind: 'hold', jobId, token });
  }

  release(jobId: string): void {
    this.held.delete(jobId);
    this.send({ kind: 'release', jobId });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.beat);
    clearTimeout(this.restart);
    await this.thread?.terminate();
  }

  private beatNow(): void {
    Atomics.store(this.heartbeat, 0, BigInt(Date.now()));
  }

  private send(request: LockKeeperRequest): void {
    this.thread?.postMessage(request);
  }

  private spawn(): void {
    const { onLost: _, ...settings } = this.options;
    const workerData: LockKeeperThreadData = {
      ...settings,
      hungAfterMs: settings.hungAfterMs ?? HUNG_AFTER_MS,
      heartbeat: this.heartbeat,
    };
    // The sibling file of this module: compiled (.js), or the source under the test runner (.ts).
    const ownExtension = extname(fileURLToPath(import.meta.url));
    const thread = new Worker(new URL(`./job-lock-keeper.thread${ownExtension}`, import.meta.url), {
      workerData,
      name: 'job-lock-keeper',
      resourceLimits: { maxOldGenerationSizeMb: 32 },
    });
    thread.unref();
    thread.on('message', (report: LockKeeperReport) => this.onReport(report));
    thread.on('error', (error) => this.logger.error(`Lock keeper thread failed: ${error.message}`));
    thread.on('exit', () => {
      if (this.closed || this.thread !== thread) return;
      this.thread = undefined;
      this.logger.error('Lock keeper thread ended; starting it again');
      this.restart = setTimeout(() => this.spawn(), RESTART_DELAY_MS).unref();
    });
    this.thread = thread;
    for (const [jobId, token] of this.held) this.send({ kind: 'hold', jobId, token });
  }

  private onReport(report: LockKeeperReport): void {
    if (report.kind === 'ready') {
      this.markReady();
    } else if (report.kind === 'hung') {
      this.logger.error(
        `The main thread has not run for ${Math.round(report.sinceMs / 1000)} s: job locks are no longer renewed`,
      );
    } else if (report.kind === 'awake') {
      this.logger.warn('The main thread runs again: job locks are renewed again');
    } else {
      const lost = report.jobIds.filter((jobId) => this.held.delete(jobId));
      if (lost.length > 0) this.options.onLost(lost);
    }
  }
}
