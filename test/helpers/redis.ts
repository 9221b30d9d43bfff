import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { AppConfig } from '../../src/config/app-config.js';
import { loadConfig } from '../../src/config/load-config.js';
import { freePort, waitFor } from './service-process.js';

export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379';

/** True if something answers PING on 127.0.0.1:port within a second. */
export function redisAnswers(port = 6379): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

/**
 * `describe` when the shared Redis on 127.0.0.1:6379 answers, else `describe.skip` with a note
 * (CI has Redis; a laptop without one still runs the rest of the suite).
 */
export async function describeWithRedis(): Promise<jest.Describe> {
  if (await redisAnswers()) return describe;
  console.warn(
    'Redis is not reachable at 127.0.0.1:6379: skipping the Redis (distributed mode) tests',
  );
  return describe.skip;
}

/**
 * The configuration of a replica on the shared Redis under `prefix` that calls no real CXone;
 * `env` adds or replaces variables (another REDIS_URL, say).
 */
export function redisTestConfig(prefix: string, env: Record<string, string> = {}): AppConfig {
  return loadConfig({
    CXONE_SIMULATOR: 'true',
    CXONE_API_URL: 'http://127.0.0.1:9',
    AUTH_DISABLED: 'true',
    REDIS_URL: SHARED_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    ...env,
  });
}

/** A test file's own key prefix on the shared Redis, its configuration, and its cleanup. */
export function redisTestSpace(name: string): {
  prefix: string;
  config: AppConfig;
  deleteKeys(): Promise<void>;
} {
  const prefix = uniquePrefix(name);
  return {
    prefix,
    config: redisTestConfig(prefix),
    deleteKeys: () => deleteKeys(SHARED_REDIS_URL, prefix),
  };
}

/** A key prefix of its own for one test file, so parallel runs never meet. */
export function uniquePrefix(name: string): string {
  return `test:${name}:${randomBytes(4).toString('hex')}:`;
}

/** Deletes every key under `prefix` (the test's own keys). */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export interface RedisServer {
  port: number;
  url: string;
  /** Starts (again) on the same port and data directory. */
  start(): Promise<void>;
  /** Stops the server (SIGKILL: with appendfsync always nothing written is lost). */
  stop(): Promise<void>;
  /** Freezes the running server (SIGSTOP): connections stay open, nothing is answered. */
  freeze(): void;
  /** Lets a frozen server go on (SIGCONT). */
  thaw(): void;
  /** Stops it and removes its data directory. */
  destroy(): Promise<void>;
}

/**
 * A redis-server of the test's own on a free port, with an append-only file synced on every
 * write, so a restart (same port, same directory) finds every key again.
 */
export async function redisServer(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'cxo-redis-'));
  let child: ChildProcess | undefined;
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'yes',
          '--appendfsync',
          'always',
          '--dir',
          dir,
        ],
        { stdio: 'ignore' },
      );
      await waitFor(() => redisAnswers(port), 5000, `redis-server on port ${port}`);
    },
    async stop() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGKILL');
      await exited;
    },
    freeze() {
      child?.kill('SIGSTOP');
    },
    thaw() {
      child?.kill('SIGCONT');
    },
    async destroy() {
      server.thaw();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
