import type { NestExpressApplication } from '@nestjs/platform-express';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { apiFor, payloads, type Api } from './helpers/api.js';
import { waitFor } from './helpers/service-process.js';
import { startTestApp } from './helpers/test-app.js';

// Steering batches over real HTTP against the simulator (in-memory mode): PATCH, tolerated
// failures, redrive, and the bad input of each.

const MAX_WORKERS_PER_BATCH = 64;
/** Generous: the machine running the suite may be busy (timing goals live in the assertions). */
const TEST_TIMEOUT_MS = 30_000;

describe('steering batches (in-memory mode, simulator over HTTP)', () => {
  let sim: SimulatorHandle;
  let app: NestExpressApplication;
  let api: Api;

  /** The simulator's own counts, read over its HTTP admin API. */
  const simStats = async (): Promise<any> => (await fetch(`${sim.url}/__sim/stats`)).json();
  const inFlight = async (action: string): Promise<number> =>
    (await simStats()).actions[action]?.in_flight ?? 0;
  const callsOf = async (action: string): Promise<number> =>
    (await simStats()).actions[action]?.calls ?? 0;
  const attemptsOf = async (requestId: string): Promise<number> => {
    const response = await fetch(`${sim.url}/__sim/attempts/${encodeURIComponent(requestId)}`);
    return ((await response.json()) as { attempts: number }).attempts;
  };
  /** Milliseconds until `check` holds (polled every 10 ms), or throws after `timeoutMs`. */
  const msUntil = async (check: () => Promise<boolean>, timeoutMs: number, what: string) => {
    const started = Date.now();
    for (;;) {
      if (await check()) return Date.now() - started;
      if (Date.now() - started > timeoutMs) throw new Error(`${what} not within ${timeoutMs} ms`);
      await sleep(10);
    }
  };

  beforeAll(async () => {
    sim = await startSimulator({ port: 0, seed: 19 });
    ({ app } = await startTestApp({
      CXONE_API_URL: sim.url,
      MAX_BATCH_ITEMS: '1000',
      MAX_WORKERS_PER_BATCH: String(MAX_WORKERS_PER_BATCH),
      CIRCUIT_FAILURE_THRESHOLD: '1000',
    }));
    const address = app.getHttpServer().address() as { port: number };
    api = apiFor(`http://127.0.0.1:${address.port}`);
  });
  afterAll(async () => {
    await app?.close();
    await sim?.close();
  });

  describe('PATCH /batch/{id}', () => {
    it(
      'raises and lowers the calls in flight at the simulator within 1 s',
      async () => {
        sim.setProfile('patch', { latency_ms: 200 });
        const submitted = await api.post('/batch/execute', {
          action_id: 'patch',
          payloads: payloads(1000),
          max_workers: 2,
          cache_ttl_seconds: 0,
        });
        const { batch_id: batchId } = submitted.body;
        await waitFor(async () => (await inFlight('patch')) === 2, 5000, 'two calls in flight');

        const raised = await api.patch(`/batch/${batchId}`, { max_workers: 24 });
        expect(raised.status).toBe(200);
        expect(raised.body).toMatchObject({
          batch_id: batchId,
          status: 'running',
          limits: { max_workers: 24, effective_workers: 24, paused_until: null },
        });
        expect(raised.headers.get('retry-after')).toBe('1');
        const up = await msUntil(async () => (await inFlight('patch')) === 24, 3000, 'raise');
        expect(up).toBeLessThan(1000);

        const lowered = await api.patch(`/batch/${batchId}`, { max_workers: 1 });
        expect(lowered.body.limits.max_workers).toBe(1);
        const down = await msUntil(async () => (await inFlight('patch')) <= 1, 3000, 'lower');
        expect(down).toBeLessThan(1000);
        // And it stays there: one call at a time.
        for (let i = 0; i < 10; i++) {
          expect(await inFlight('patch')).toBeLessThanOrEqual(1);
          await sleep(30);
        }

        const status = await api.get(`/batch/${batchId}/status?limit=1`);
        expect(status.body.limits.max_workers).toBe(1);
        await api.post(`/batch/${batchId}/cancel`, undefined);
        await api.waitForEnd(batchId);
        const finished = await api.patch(`/batch/${batchId}`, { max_workers: 4 });
        expect(finished.status).toBe(409);
        expect(finished.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(finished.body.errors).toEqual([{ field: 'batch_id', message: expect.any(String) }]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'retunes a batch just submitted, and it runs with the new value',
      async () => {
        sim.setProfile('patch-queued', { latency_ms: 50 });
        const submitted = await api.post('/batch/execute', {
          action_id: 'patch-queued',
          payloads: payloads(40),
          max_workers: 1,
          cache_ttl_seconds: 0,
        });
        const patched = await api.patch(`/batch/${submitted.body.batch_id}`, { max_workers: 8 });
        expect(patched.status).toBe(200);
        const done = await api.waitForEnd(submitted.body.batch_id);
        expect(done.summary.successful).toBe(40);
        expect((await simStats()).actions['patch-queued'].peak_in_flight).toBeGreaterThan(1);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'answers 404 for an unknown batch and names the field of each bad body',
      async () => {
        const unknown = await api.patch('/batch/00000000-0000-4000-8000-000000000000', {
          max_workers: 2,
        });
        expect(unknown.status).toBe(404);

        const submitted = await api.post('/batch/execute', {
          action_id: 'patch-bad',
          payloads: payloads(1),
        });
        const path = `/batch/${submitted.body.batch_id}`;
        const cases: [unknown, string][] = [
          [{ max_workers: 0 }, 'max_workers'],
          [{ max_workers: MAX_WORKERS_PER_BATCH + 1 }, 'max_workers'],
          [{ max_workers: 2.5 }, 'max_workers'],
          [{ max_workers: '8' }, 'max_workers'],
          [{}, 'max_workers'],
          [{ max_workers: 4, chunk_size: 2 }, 'chunk_size'],
          [[4], 'body'],
        ];
        for (const [body, field] of cases) {
          const response = await api.patch(path, body);
          expect({ body, status: response.status }).toEqual({ body, status: 400 });
          expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
          expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
        }
        const badId = await api.patch('/batch/not-a-batch', { max_workers: 2 });
        expect(badId.status).toBe(400);
        expect(badId.body.errors[0].field).toBe('batch_id');
      },
      TEST_TIMEOUT_MS,
    );
  });

  describe('tolerated failures', () => {
    it(
      'ends the batch failed once failures pass the count: pending items cancelled, never called',
      async () => {
        sim.setProfile('tolerance', { error_rate: 1, error_status: 400, latency_ms: 5 });
        const submitted = await api.post('/batch/execute', {
          action_id: 'tolerance',
          payloads: payloads(50),
          max_workers: 2,
          cache_ttl_seconds: 0,
          tolerated_failure_count: 3,
        });
        const done = await api.waitForEnd(submitted.body.batch_id);
        expect(done.status).toBe('failed');
        expect(done.failure_reason).toBe('TOLERATED_FAILURE_EXCEEDED');
        const { summary } = done;
        expect(summary.failed).toBeGreaterThanOrEqual(4);
        expect(summary.failed).toBeLessThanOrEqual(5);
        expect(summary).toMatchObject({
          successful: 0,
          pending: 0,
          cancelled: 50 - summary.failed,
        });
        // Only the failed items reached the simulator (a 400 is not retried).
        expect(await callsOf('tolerance')).toBe(summary.failed);
        const cancelled = await api.get(
          `/batch/${submitted.body.batch_id}/status?status=cancelled&limit=1`,
        );
        expect(cancelled.body.items[0]).toMatchObject({
          status: 'cancelled',
          error_code: 'CANCELLED',
          attempts: 0,
        });
        const listed = await api.get('/batch?limit=20');
        expect(
          listed.body.batches.find((b: any) => b.batch_id === submitted.body.batch_id).status,
        ).toBe('failed');
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'ends the batch failed past the percentage, and completed within it (degraded items not counted)',
      async () => {
        sim.setProfile('tolerance-pct', { error_rate: 1, error_status: 422 });
        const over = await api.post('/batch/execute', {
          action_id: 'tolerance-pct',
          payloads: payloads(40),
          max_workers: 1,
          cache_ttl_seconds: 0,
          tolerated_failure_percent: 5,
        });
        const overDone = await api.waitForEnd(over.body.batch_id);
        // 5 % of 40 is 2: the third failure stops it.
        expect(overDone).toMatchObject({
          status: 'failed',
          failure_reason: 'TOLERATED_FAILURE_EXCEEDED',
          summary: { failed: 3, cancelled: 37 },
        });

        sim.setProfile('tolerance-hang', { hang_rate: 1 });
        const degraded = await api.post('/batch/execute', {
          action_id: 'tolerance-hang',
          payloads: payloads(6),
          max_workers: 6,
          timeout_ms: 150,
          cache_ttl_seconds: 0,
          tolerated_failure_percent: 0,
        });
        const degradedDone = await api.waitForEnd(degraded.body.batch_id);
        expect(degradedDone).toMatchObject({
          status: 'completed',
          failure_reason: null,
          summary: { degraded: 6, failed: 0 },
        });
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'refuses tolerances out of range, naming the field',
      async () => {
        const cases: [Record<string, unknown>, string][] = [
          [{ tolerated_failure_percent: 101 }, 'tolerated_failure_percent'],
          [{ tolerated_failure_percent: -1 }, 'tolerated_failure_percent'],
          [{ tolerated_failure_percent: 'ten' }, 'tolerated_failure_percent'],
          [{ tolerated_failure_count: -1 }, 'tolerated_failure_count'],
          [{ tolerated_failure_count: 1.5 }, 'tolerated_failure_count'],
          [{ tolerated_failure_count: 1001 }, 'tolerated_failure_count'],
        ];
        for (const [extra, field] of cases) {
          const response = await api.post('/batch/execute', {
            action_id: 'tolerance-bad',
            payloads: payloads(1),
            ...extra,
          });
          expect({ extra, status: response.status }).toEqual({ extra, status: 400 });
          expect(new Set(response.body.errors.map((e: { field: string }) => e.field))).toEqual(
            new Set([field]),
          );
        }
      },
      TEST_TIMEOUT_MS,
    );
  });

  describe('POST /batch/{id}/redrive', () => {
    it(
      'runs only the chosen outcomes again, under the same batch id and X-Request-Ids',
      async () => {
        sim.setProfile('redrive', { error_rate: 1, error_status: 400 });
        const submitted = await api.post('/batch/execute', {
          action_id: 'redrive',
          payloads: payloads(12),
          max_workers: 1,
          cache_ttl_seconds: 0,
          tolerated_failure_count: 3,
        });
        const batchId = submitted.body.batch_id;
        const first = await api.waitForEnd(batchId);
        expect(first.summary).toMatchObject({ failed: 4, cancelled: 8 });
        const requestIds = Array.from({ length: 12 }, (_, index) => `${batchId}-${index}`);
        const attempts = async (): Promise<number[]> => Promise.all(requestIds.map(attemptsOf));
        expect(await attempts()).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);

        sim.setProfile('redrive', { latency_ms: 5 });
        const onlyFailed = await api.post(`/batch/${batchId}/redrive`, { statuses: ['failed'] });
        expect(onlyFailed.status).toBe(202);
        expect(onlyFailed.headers.get('location')).toBe(`/batch/${batchId}/status`);
        expect(onlyFailed.body).toMatchObject({
          batch_id: batchId,
          status: 'queued',
          failure_reason: null,
          redrive_count: 1,
          finished_at: null,
          summary: { pending: 4, failed: 0, cancelled: 8 },
        });
        const second = await api.waitForEnd(batchId);
        expect(second).toMatchObject({
          status: 'completed',
          failure_reason: null,
          redrive_count: 1,
          summary: { successful: 4, cancelled: 8, pending: 0 },
        });
        expect(await attempts()).toEqual([2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0]);

        const byDefault = await api.post(`/batch/${batchId}/redrive`, undefined);
        expect(byDefault.status).toBe(202);
        expect(byDefault.body.summary).toMatchObject({ pending: 8, successful: 4 });
        const third = await api.waitForEnd(batchId);
        expect(third).toMatchObject({ redrive_count: 2, summary: { successful: 12 } });
        expect(await attempts()).toEqual([2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1]);
        expect(third.items[5].data).toEqual({
          action_id: 'redrive',
          request_id: `${batchId}-5`,
          data: { id: 'item-5', n: 5 },
        });

        const nothing = await api.post(`/batch/${batchId}/redrive`, {});
        expect(nothing.status).toBe(409);
        expect(nothing.body.errors).toEqual([{ field: 'statuses', message: expect.any(String) }]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'refuses an unfinished batch and unknown statuses, naming the field',
      async () => {
        sim.setProfile('redrive-slow', { latency_ms: 300 });
        const submitted = await api.post('/batch/execute', {
          action_id: 'redrive-slow',
          payloads: payloads(20),
          max_workers: 1,
          cache_ttl_seconds: 0,
        });
        const path = `/batch/${submitted.body.batch_id}/redrive`;
        const unfinished = await api.post(path, undefined);
        expect(unfinished.status).toBe(409);
        expect(unfinished.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(unfinished.body.errors).toEqual([
          { field: 'batch_id', message: expect.any(String) },
        ]);

        const cases: [unknown, string][] = [
          [{ statuses: ['success'] }, 'statuses'],
          [{ statuses: ['failed', 'pending'] }, 'statuses'],
          [{ statuses: [] }, 'statuses'],
          [{ statuses: 'failed' }, 'statuses'],
          [{ statuses: ['failed'], max_workers: 2 }, 'max_workers'],
          [null, 'body'],
        ];
        for (const [body, field] of cases) {
          const response = await api.post(path, body === null ? 'null' : body);
          expect({ body, status: response.status }).toEqual({ body, status: 400 });
          expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
        }
        expect(
          (await api.post('/batch/00000000-0000-4000-8000-000000000000/redrive', {})).status,
        ).toBe(404);
        await api.post(`/batch/${submitted.body.batch_id}/cancel`, undefined);
      },
      TEST_TIMEOUT_MS,
    );
  });
});
