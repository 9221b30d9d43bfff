import {
  Injectable,
  Logger,
  Optional,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { settlesWithin } from '../../lib/settles-within.js';
import { AppConfig } from '../../config/app-config.js';
import { CallbackOutbox } from './callback-outbox.js';
import { CallbackSigner } from './callback-signer.js';
import {
  CallbackTelemetry,
  noopCallbackTelemetry,
  type AttemptOutcome,
} from './callback-telemetry.js';
import { CallbackTransport, type PostOutcome } from './callback-transport.js';
import { callbackBody, type AttemptVerdict, type ClaimedDelivery } from './callback.types.js';
import { isRetryableStatus, retryDelayMs } from './retry-schedule.js';

/** How often every process looks for due deliveries (besides being woken when a batch ends). */
export const POLL_INTERVAL_MS = 1000;
/** Attempts one process makes at once. */
const MAX_IN_FLIGHT = 32;
/**
 * A claim outlives its attempt's timeout by this much, so a live process records its verdict
 * before another may take the delivery over.
 */
export const LEASE_MARGIN_MS = 5000;
/** Recording a verdict is tried this often (a Redis blip) before the lease is left to lapse. */
const SETTLE_TRIES = 5;
const SETTLE_FIRST_DELAY_MS = 200;
/** Once the grace is spent, attempts still under way are aborted; their release gets this long. */
const RELEASE_WAIT_MS = 2000;
const USER_AGENT = 'cxone-orchestrator-callback';

interface Judgement {
  verdict: AttemptVerdict;
  outcome: AttemptOutcome;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Delivers the callbacks of ended batches from the outbox: claims due deliveries, POSTs each one
 * signed, and records what came of it: delivered, retried later (network errors, 408, 429, 5xx,
 * with backoff and jitter, up to CALLBACK_MAX_ATTEMPTS), or failed. Every process runs one; the
 * outbox's claims make each attempt one process's. Woken when a batch ends, and every second.
 */
@Injectable()
export class CallbackDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Callback');
  private readonly attempts = new Set<Promise<void>>();
  private readonly shutdown = new AbortController();
  private poller: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private pollAgain = false;
  private stopped = false;
  private drained: Promise<void> | undefined;
  private readonly leaseMs: number;

  constructor(
    private readonly config: AppConfig,
    private readonly outbox: CallbackOutbox,
    private readonly transport: CallbackTransport,
    private readonly signer: CallbackSigner,
    @Optional() private readonly telemetry: CallbackTelemetry = noopCallbackTelemetry,
  ) {
    this.leaseMs = config.callback.timeoutMs + LEASE_MARGIN_MS;
  }

  onApplicationBootstrap(): void {
    this.poller = setInterval(() => this.wake(), POLL_INTERVAL_MS).unref();
    this.wake();
  }

  /** Looks for due deliveries now (a batch just ended) rather than at the next poll. */
  wake(): void {
    if (this.stopped) return;
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    this.polling = this.poll().finally(() => {
      this.polling = undefined;
      if (this.pollAgain) {
        this.pollAgain = false;
        this.wake();
      }
    });
  }

  /**
   * Shutdown: attempts what is due now (callbacks of batches that ended while the queue drained)
   * and waits for the attempts under way, at most `graceMs`; then aborts the rest, which go back
   * to the outbox for another process or the next start. Deliveries waiting for a retry stay there.
   */
  drain(graceMs: number): Promise<void> {
    this.drained ??= this.drainWithin(graceMs);
    return this.drained;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.drain(0);
  }

  private async drainWithin(graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs;
    clearInterval(this.poller);
    this.stopped = true;
    await this.polling;
    if (graceMs > 0) await this.poll();
    const graceful = await settlesWithin(
      Promise.allSettled(this.attempts),
      Math.max(0, deadline - Date.now()),
    );
    if (!graceful) {
      this.logger.warn(
        `${this.attempts.size} callback attempts still under way at the end of the grace; they are attempted again later`,
      );
    }
    this.shutdown.abort();
    await settlesWithin(Promise.allSettled(this.attempts), RELEASE_WAIT_MS);
  }

  private async poll(): Promise<void> {
    const free = MAX_IN_FLIGHT - this.attempts.size;
    if (free <= 0) return;
    try {
      const { claimed, exhausted } = await this.outbox.claimDue(
        Date.now(),
        this.leaseMs,
        free,
        this.config.callback.maxAttempts,
      );
      if (exhausted > 0) {
        this.telemetry.ended('failed', exhausted);
        this.logger.warn(
          `${exhausted} callbacks failed: their last attempt was cut short (its process stopped)`,
        );
      }
      for (const delivery of claimed) this.track(this.attempt(delivery));
    } catch (error) {
      // The store is away (Redis restarting): the next poll tries again.
      this.logger.debug(`Callback outbox not read: ${messageOf(error)}`);
    }
  }

  private track(attempt: Promise<void>): void {
    this.attempts.add(attempt);
    void attempt.finally(() => {
      this.attempts.delete(attempt);
      this.wake();
    });
  }

  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    const body = callbackBody(delivery.report);
    const started = Date.now();
    const headers = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      ...this.signer.headers(delivery, body, new Date(started)),
    };
    const timeout = AbortSignal.timeout(this.config.callback.timeoutMs);
    let posted: PostOutcome;
    try {
      posted = await this.transport.post(
        delivery.url,
        headers,
        body,
        AbortSignal.any([timeout, this.shutdown.signal]),
      );
    } catch (error) {
      posted = { kind: 'unreachable', reason: messageOf(error) };
    }
    const { verdict, outcome } = this.judge(delivery, posted, timeout.aborted);
    this.telemetry.attempted(outcome, (Date.now() - started) / 1000);
    await this.settle(delivery, verdict);
  }

  private judge(delivery: ClaimedDelivery, posted: PostOutcome, timedOut: boolean): Judgement {
    const failed = (error: string, outcome: AttemptOutcome): Judgement => ({
      verdict: { kind: 'failed', error },
      outcome,
    });
    const retry = (error: string, outcome: AttemptOutcome, retryAfterSeconds?: number) => {
      if (delivery.attempt >= this.config.callback.maxAttempts)
        return failed(`${error} (attempt ${delivery.attempt}, the last)`, outcome);
      const delay = retryDelayMs(
        delivery.attempt,
        this.config.callback.retryDelayMs,
        retryAfterSeconds,
      );
      return {
        verdict: { kind: 'retry', error, nextAttemptAt: Date.now() + delay },
        outcome,
      } satisfies Judgement;
    };

    if (posted.kind === 'refused') return failed(posted.reason, 'refused_address');
    if (posted.kind === 'unreachable') {
      if (this.shutdown.signal.aborted) {
        // Handed back at once: another process (or the next start) makes the next attempt.
        return {
          verdict: {
            kind: 'retry',
            error: 'interrupted: the service shut down during the attempt',
            nextAttemptAt: Date.now(),
          },
          outcome: 'interrupted',
        };
      }
      if (timedOut)
        return retry(`no answer within ${this.config.callback.timeoutMs} ms`, 'timeout');
      return retry(posted.reason, 'network_error');
    }
    const { status } = posted;
    if (status >= 200 && status < 300)
      return { verdict: { kind: 'delivered', at: new Date().toISOString() }, outcome: 'success' };
    if (status >= 300 && status < 400)
      return failed(`answered ${status}; redirects are not followed`, 'redirect');
    if (isRetryableStatus(status)) {
      const outcome = status === 429 ? 'rate_limited' : status >= 500 ? 'server_error' : 'timeout';
      return retry(`answered ${status}`, outcome, posted.retryAfterSeconds);
    }
    return failed(`answered ${status}`, 'client_error');
  }

  private async settle(delivery: ClaimedDelivery, verdict: AttemptVerdict): Promise<void> {
    for (let tries = 1; ; tries++) {
      try {
        if (await this.outbox.settle(delivery, verdict)) this.report(delivery, verdict);
        return;
      } catch (error) {
        if (tries >= SETTLE_TRIES) {
          this.logger.warn(
            { batch_id: delivery.batchId, webhook_id: delivery.id, err: error },
            'Callback verdict not recorded; the delivery is attempted again when its claim lapses',
          );
          return;
        }
        await sleep(SETTLE_FIRST_DELAY_MS * 2 ** (tries - 1));
      }
    }
  }

  private report(delivery: ClaimedDelivery, verdict: AttemptVerdict): void {
    const fields = {
      batch_id: delivery.batchId,
      webhook_id: delivery.id,
      host: hostOf(delivery.url),
      attempt: delivery.attempt,
    };
    switch (verdict.kind) {
      case 'delivered':
        this.telemetry.ended('delivered');
        this.logger.log(fields, 'Callback delivered');
        return;
      case 'failed':
        this.telemetry.ended('failed');
        this.logger.warn({ ...fields, last_error: verdict.error }, 'Callback failed');
        return;
      case 'retry': {
        const delay = verdict.nextAttemptAt - Date.now();
        this.logger.log(
          { ...fields, last_error: verdict.error, retry_in_ms: Math.max(0, delay) },
          'Callback attempt failed; retrying',
        );
        // The poll comes every second; a sooner retry gets its own wake-up.
        if (delay < POLL_INTERVAL_MS && !this.stopped)
          setTimeout(() => this.wake(), Math.max(0, delay)).unref();
      }
    }
  }
}

/** Scheme, host and port only: a callback URL's path or query may carry a token. */
function hostOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'invalid URL';
  }
}
