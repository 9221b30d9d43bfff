/**
 * The worker thread of JobLockKeeper: renews the BullMQ locks of this replica's running jobs on
 * its own event loop, so that the main thread can be busy for longer than the lock lasts.
 *
 * Kept to ioredis and node: modules (no Nest, no BullMQ) so the thread stays small; it runs as
 * compiled JavaScript, or as this source under the test runner (Node strips the types).
 */
import { Redis } from 'ioredis';
import { parentPort, workerData } from 'node:worker_threads';

export interface LockKeeperThreadData {
  url: string;
  connectionName: string;
  /** BullMQ's key of a job is this plus the job id; its lock is that plus ':lock'. */
  jobKeyPrefix: string;
  /** BullMQ's set of jobs its stalled check suspects; a renewed job leaves it. */
  stalledKey: string;
  lockMs: number;
  renewMs: number;
  /** Renewal stops while the main thread's heartbeat is older than this (a hung process). */
  hungAfterMs: number;
  /** Date.now() of the main thread's last heartbeat, written with Atomics. */
  heartbeat: BigInt64Array;
}

export type LockKeeperRequest =
  { kind: 'hold'; jobId: string; token: string } | { kind: 'release'; jobId: string };

export type LockKeeperReport =
  | { kind: 'ready' }
  | { kind: 'lost'; jobIds: string[] }
  | { kind: 'hung'; sinceMs: number }
  | { kind: 'awake' };

/**
 * BullMQ's own extendLock script (commands/extendLock-2.lua): extend the lock only if this
 * worker's token still holds it, and take the job off the stalled check's suspects.
 */
const EXTEND_LOCK = `
if redis.call("GET", KEYS[1]) == ARGV[1] then
  if redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2]) then
    redis.call("SREM", KEYS[2], ARGV[3])
    return 1
  end
end
return 0`;

type RedisWithExtend = Redis & {
  extendJobLock(
    lockKey: string,
    stalledKey: string,
    token: string,
    lockMs: number,
    jobId: string,
  ): Promise<number>;
};

const data = workerData as LockKeeperThreadData;
const port = parentPort!;
const held = new Map<string, string>();

const redis = new Redis(data.url, {
  connectionName: data.connectionName,
  // A renewal that cannot be made now is retried on the next tick, not queued behind an outage.
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  commandTimeout: data.renewMs,
  retryStrategy: (attempt) => Math.min(100 * 2 ** Math.max(0, attempt - 1), 2000),
}) as RedisWithExtend;
redis.defineCommand('extendJobLock', { numberOfKeys: 2, lua: EXTEND_LOCK });
// Connection errors surface as failed renewals; the main connection reports Redis outages.
redis.on('error', () => undefined);
redis.once('ready', () => port.postMessage({ kind: 'ready' } satisfies LockKeeperReport));

port.on('message', (request: LockKeeperRequest) => {
  if (request.kind === 'hold') held.set(request.jobId, request.token);
  else held.delete(request.jobId);
});

let hung = false;
let renewing = false;

async function renew(): Promise<void> {
  const silentFor = Date.now() - Number(Atomics.load(data.heartbeat, 0));
  if (silentFor > data.hungAfterMs) {
    if (!hung) port.postMessage({ kind: 'hung', sinceMs: silentFor } satisfies LockKeeperReport);
    hung = true;
    return;
  }
  if (hung) port.postMessage({ kind: 'awake' } satisfies LockKeeperReport);
  hung = false;
  if (held.size === 0 || redis.status !== 'ready') return;
  const jobs = [...held];
  const results = await Promise.allSettled(
    jobs.map(([jobId, token]) =>
      redis.extendJobLock(
        `${data.jobKeyPrefix}${jobId}:lock`,
        data.stalledKey,
        token,
        data.lockMs,
        jobId,
      ),
    ),
  );
  // Only an answer of 0 means the lock is another worker's (or gone); an error is retried.
  // A job released meanwhile (finished: its lock deleted) is not lost.
  const lost = jobs
    .filter(([jobId, token], index) => {
      const result = results[index];
      return result.status === 'fulfilled' && result.value === 0 && held.get(jobId) === token;
    })
    .map(([jobId]) => jobId);
  if (lost.length === 0) return;
  for (const jobId of lost) held.delete(jobId);
  port.postMessage({ kind: 'lost', jobIds: lost } satisfies LockKeeperReport);
}

setInterval(() => {
  if (renewing) return;
  renewing = true;
  // Renewals that failed are retried on the next tick; nothing else can throw here.
  void renew()
    .catch(() => undefined)
    .finally(() => (renewing = false));
}, data.renewMs);
