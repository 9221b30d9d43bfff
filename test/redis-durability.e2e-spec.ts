import { Redis } from 'ioredis';
import { describeWithRedis, redisServer, uniquePrefix, type RedisServer } from './helpers/redis.js';
import { startTestApp } from './helpers/test-app.js';

// Redis mode keeps the batches in Redis: at start the service checks that Redis keeps its data
// and does not evict, and says so in the log and in /health/ready (a redis-server of this
// test's own, reconfigured between starts).

const describeRedis = await describeWithRedis();

describeRedis('distributed mode: Redis durability check', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await redisServer();
    await redis.start();
  }, 15000);
  afterAll(async () => {
    await redis.destroy();
  });

  async function readyBody(): Promise<{ status: number; body: any }> {
    const { app, url } = await startTestApp({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: uniquePrefix('durability'),
    });
    try {
      const response = await fetch(`${url}/health/ready`);
      return { status: response.status, body: await response.json() };
    } finally {
      await app.close();
    }
  }

  it('is quiet about a Redis with an append-only file that never evicts', async () => {
    const { status, body } = await readyBody();
    expect(status).toBe(200);
    expect(body.details.redis_durability).toEqual({ status: 'up', warnings: [] });
  }, 30000);

  it('reports a Redis that keeps nothing on disk and evicts, and stays ready', async () => {
    const admin = new Redis(redis.url);
    try {
      await admin.config('SET', 'appendonly', 'no');
      await admin.config('SET', 'save', '');
      await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
      const { status, body } = await readyBody();
      expect(status).toBe(200);
      expect(body.details.redis_durability.warnings).toEqual([
        expect.stringMatching(/keeps nothing on disk/),
        expect.stringMatching(/maxmemory-policy allkeys-lru/),
      ]);
    } finally {
      await admin.config('SET', 'appendonly', 'yes');
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      admin.disconnect();
    }
  }, 30000);
});
