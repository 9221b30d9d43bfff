import { Redis } from 'ioredis';
import { JobLockKeeper } from '../src/batch/redis/job-lock-keeper.js';
import { deleteKeys, describeWithRedis, SHARED_REDIS_URL, uniquePrefix } from './helpers/redis.js';
import { waitFor } from './helpers/service-process.js';

// The lock keeper against a real Redis, with this test's own thread as the "main thread" it
// serves: blocking it here is what a long synchronous stretch does to the service.

const describeRedis = await describeWithRedis();

/** Busy-waits: no timer, socket or message of this thread runs meanwhile. */
function blockThisThread(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

describeRedis('JobLockKeeper: BullMQ job locks renewed off the main thread', () => {
  const prefix = uniquePrefix('lock-keeper');
  const stalledKey = `${prefix}stalled`;
  const lockKey = (jobId: string): string => `${prefix}job:${jobId}:lock`;
  let redis: Redis;
  let keeper: JobLockKeeper | undefined;
  const lost: string[] = [];

  const startKeeper = (hungAfterMs?: number): JobLockKeeper => {
    keeper = new JobLockKeeper({
      url: SHARED_REDIS_URL,
      connectionName: 'test:lock-keeper',
      jobKeyPrefix: `${prefix}job:`,
      stalledKey,
      lockMs: 1000,
      renewMs: 250,
      hungAfterMs,
      onLost: (jobIds) => lost.push(...jobIds),
    });
    keeper.start();
    return keeper;
  };

  /**
   * A job as BullMQ's worker holds it: its lock, and on the stalled check's list of suspects.
   * The first lock outlasts the thread's start; each renewal then sets it to lockMs (1 s).
   */
  const lockedJob = async (jobId: string, token: string): Promise<void> => {
    await redis.set(lockKey(jobId), token, 'PX', 30000);
    await redis.sadd(stalledKey, jobId);
  };

  const renewed = (jobId: string) => async () => (await redis.sismember(stalledKey, jobId)) === 0;

  beforeAll(() => {
    redis = new Redis(SHARED_REDIS_URL);
  });
  afterEach(async () => {
    await keeper?.close();
    keeper = undefined;
    lost.length = 0;
  });
  afterAll(async () => {
    redis?.disconnect();
    await deleteKeys(SHARED_REDIS_URL, prefix);
  });

  it('keeps a lock through a synchronous stretch three times as long as the lock', async () => {
    const keeping = startKeeper();
    await lockedJob('a', 'token-a');
    keeping.hold('a', 'token-a');
    await waitFor(renewed('a'), 15000, 'first renewal');

    expect(await redis.pttl(lockKey('a'))).toBeLessThanOrEqual(1000);
    blockThisThread(3000);

    expect(await redis.get(lockKey('a'))).toBe('token-a');
    expect(await redis.pttl(lockKey('a'))).toBeGreaterThan(0);
    expect(lost).toEqual([]);
  }, 20000);

  it('reports a lock another worker holds now, and never overwrites it', async () => {
    const keeping = startKeeper();
    await lockedJob('b', 'token-b');
    keeping.hold('b', 'token-b');
    await waitFor(renewed('b'), 15000, 'first renewal');

    await redis.set(lockKey('b'), 'someone-else', 'PX', 5000);
    await waitFor(async () => lost.includes('b'), 5000, 'the lost lock reported');
    expect(await redis.get(lockKey('b'))).toBe('someone-else');
  }, 20000);

  it('stops renewing a released job', async () => {
    const keeping = startKeeper();
    await lockedJob('c', 'token-c');
    keeping.hold('c', 'token-c');
    await waitFor(renewed('c'), 15000, 'first renewal');
    keeping.release('c');
    await redis.sadd(stalledKey, 'c');

    await waitFor(async () => (await redis.exists(lockKey('c'))) === 0, 5000, 'the lock expiring');
    expect(await redis.sismember(stalledKey, 'c')).toBe(1);
    expect(lost).toEqual([]);
  }, 20000);

  it('lets the locks of a main thread silent for longer than hungAfterMs expire', async () => {
    const keeping = startKeeper(1500);
    await lockedJob('d', 'token-d');
    keeping.hold('d', 'token-d');
    await waitFor(renewed('d'), 15000, 'first renewal');

    blockThisThread(4000);

    expect(await redis.exists(lockKey('d'))).toBe(0);
    await waitFor(async () => lost.includes('d'), 5000, 'the expired lock reported');
  }, 20000);
});
