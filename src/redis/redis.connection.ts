import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { DomainError } from '../lib/domain-error.js';
import { settlesWithin } from '../lib/settles-within.js';
import { AppConfig } from '../config/app-config.js';

const RECONNECT_FIRST_MS = 100;
const RECONNECT_MAX_MS = 2000;
/** What ioredis rejects a command with when `commandTimeout` passed without an answer. */
const COMMAND_TIMED_OUT = 'Command timed out';
/** Between two PINGs while Redis does not answer. */
const PROBE_INTERVAL_MS = 1000;
/** How long the start waits for a first connection before serving (unready) anyway. */
const FIRST_CONNECT_WAIT_MS = 3000;

/** Reconnects for ever, 100 ms doubling up to 2 s: Redis coming back is always picked up. */
export function reconnectDelay(attempt: number): number {
  return Math.min(RECONNECT_FIRST_MS * 2 ** Math.max(0, attempt - 1), RECONNECT_MAX_MS);
}

/**
 * True for errors that say "Redis cannot be reached right now" (closed connection, refused,
 * timed out, offline queue disabled, server loading or read-only), as opposed to a reply error
 * caused by the command itself (a bug).
 */
export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'ReplyError')
    return /^(LOADING|BUSY|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN)/.test(error.message);
  return true;
}

/** A DomainError the problem filter turns into `503`; the Redis reason stays in `cause` (logs only). */
export function notReady(what: string, cause?: unknown): DomainError {
  const error = new DomainError(
    'NOT_READY',
    `${what} is unavailable (Redis cannot be reached); retry shortly.`,
    { retryAfterSeconds: 2 },
  );
  if (cause !== undefined) error.cause = cause;
  return error;
}

/**
 * The one Redis connection of this replica for commands (batch store, circuit state), and the
 * connection settings for BullMQ's own clients. Commands fail at once while Redis is down
 * (no offline queue), so a request answers 503 instead of hanging; the client reconnects for ever.
 */
@Injectable()
export class RedisConnection implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RedisConnection.name);
  /** Identifies this process among the replicas (pod name and pid): BullMQ worker name, batch owner. */
  readonly replicaId = `${hostname()}:${process.pid}`;
  readonly client: Redis;
  private lastError: string | undefined;
  private wasReady = false;
  private closing = false;
  /** From a command timing out until a PING answers: Redis is connected but does not answer. */
  private unresponsive = false;

  constructor(private readonly config: AppConfig) {
    this.client = new Redis(this.url, {
      ...this.baseOptions(),
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      maxRetriesPerRequest: 1,
      // A command that gets no answer in this time fails (a frozen Redis must not hang a request).
      commandTimeout: config.redis.commandTimeoutMs,
      connectionName: `cxo:${this.replicaId}`,
    });
    this.client.on('error', (error: Error) => {
      const reason = describeError(error);
      if (reason !== this.lastError) this.logger.warn(`Redis connection error: ${reason}`);
      this.lastError = reason;
    });
    this.client.on('ready', () => {
      if (this.wasReady) this.logger.log('Redis connection restored');
      this.wasReady = true;
      this.lastError = undefined;
    });
    this.client.on('close', () => {
      if (this.wasReady && !this.closing && this.lastError === undefined) {
        this.logger.warn('Redis connection lost, reconnecting');
      }
    });
  }

  get url(): string {
    return this.config.redis.url ?? 'redis://127.0.0.1:6379';
  }

  get keyPrefix(): string {
    return this.config.redis.keyPrefix;
  }

  /** Options for a client BullMQ creates itself (it needs its own, some of them blocking). */
  bullConnection(kind: 'worker' | 'producer'): { url: string; [option: string]: unknown } {
    return {
      url: this.url,
      ...this.baseOptions(),
      ...(kind === 'worker'
        ? { maxRetriesPerRequest: null }
        : { enableOfflineQueue: false, maxRetriesPerRequest: 1 }),
      connectionName: `cxo:${kind}:${this.replicaId}`,
    };
  }

  /** A second connection for SUBSCRIBE (a subscribed connection can run nothing else). */
  createSubscriber(): Redis {
    const subscriber = new Redis(this.url, {
      ...this.baseOptions(),
      connectionName: `cxo:subscriber:${this.replicaId}`,
    });
    subscriber.on('error', () => {
      // Reported by the main client; the subscriber reconnects and resubscribes on its own.
    });
    return subscriber;
  }

  /**
   * Throws NOT_READY at once while Redis is known not to answer (a command of this replica timed
   * out and no PING has answered since), so that callers get a 503 now rather than each one after
   * REDIS_COMMAND_TIMEOUT_MS.
   */
  assertResponsive(what: string): void {
    if (this.unresponsive) throw notReady(what);
  }

  /** Learns from a failed command: a timeout marks Redis unresponsive until a PING answers. */
  noteFailure(error: unknown): void {
    if (!(error instanceof Error) || error.message !== COMMAND_TIMED_OUT) return;
    if (this.unresponsive || this.closing) return;
    this.unresponsive = true;
    this.logger.warn(
      `Redis did not answer within ${this.config.redis.commandTimeoutMs} ms; store calls fail at once until it answers a PING`,
    );
    void this.probeUntilAnswered();
  }

  private async probeUntilAnswered(): Promise<void> {
    while (this.unresponsive && !this.closing) {
      try {
        await this.client.ping();
        this.unresponsive = false;
        this.logger.log('Redis answers again');
      } catch {
        await sleep(PROBE_INTERVAL_MS, undefined, { ref: false });
      }
    }
  }

  /** Throws, with the reason, unless Redis answers now. */
  async ping(): Promise<void> {
    if (this.unresponsive) {
      throw new Error(
        `Redis does not answer (a command got no answer within ${this.config.redis.commandTimeoutMs} ms)`,
      );
    }
    if (this.client.status !== 'ready') {
      throw new Error(
        `Redis is not connected (${this.client.status}${this.lastError ? `: ${this.lastError}` : ''})`,
      );
    }
    try {
      await this.client.ping();
    } catch (error) {
      throw new Error(`Redis does not answer: ${describeError(error)}`, { cause: error });
    }
  }

  async onModuleInit(): Promise<void> {
    // Serve requests only once the first connection is up, unless Redis is down at start:
    // then the service starts anyway, unready, and becomes ready when Redis comes.
    if (this.client.status === 'ready') return;
    const ready = new Promise<void>((resolve) => this.client.once('ready', () => resolve()));
    await settlesWithin(ready, FIRST_CONNECT_WAIT_MS);
    if ((this.client.status as string) !== 'ready') {
      this.logger.error(
        `Redis is not reachable at start (${this.lastError ?? this.client.status}); starting unready`,
      );
    }
  }

  /** After the batch queue has drained (BatchModule's onModuleDestroy), so outcomes can still be written. */
  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  private baseOptions(): RedisOptions {
    return {
      retryStrategy: reconnectDelay,
      // Redis restarted as a replica promoted, or a failover: reconnect rather than fail writes.
      reconnectOnError: (error) => error.message.startsWith('READONLY'),
      // A socket that never connected gets no 'close' to wait for: do not hold the exit 2 s.
      disconnectTimeout: 100,
    };
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return code && !error.message.includes(code) ? `${code} ${error.message}` : error.message;
}
