import type { NestExpressApplication } from '@nestjs/platform-express';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { apiFor, payloads, type Api } from './helpers/api.js';
import { startTestApp } from './helpers/test-app.js';

// GET /circuits and PUT /circuits/{action_id} over real HTTP against the simulator (in-memory
// mode): forcing an action open, and what is refused. Two replicas: redis-steering.e2e-spec.ts.

/** Generous: the machine running the suite may be busy (timing goals live in the assertions). */
const TEST_TIMEOUT_MS = 30_000;

describe('circuits (in-memory mode, simulator over HTTP)', () => {
  let sim: SimulatorHandle;
  let app: NestExpressApplication;
  let api: Api;

  const callsOf = async (action: string): Promise<number> => {
    const stats: any = await (await fetch(`${sim.url}/__sim/stats`)).json();
    return stats.actions[action]?.calls ?? 0;
  };

  beforeAll(async () => {
    sim = await startSimulator({ port: 0, seed: 29 });
    ({ app } = await startTestApp({
      CXONE_API_URL: sim.url,
      CIRCUIT_FAILURE_THRESHOLD: '1000',
      ADMIN_CALLERS: 'default',
    }));
    const address = app.getHttpServer().address() as { port: number };
    api = apiFor(`http://127.0.0.1:${address.port}`);
  });
  afterAll(async () => {
    await app?.close();
    await sim?.close();
  });

  it(
    'forces an action open: its items fail CIRCUIT_OPEN or degrade from the stale copy, CXone never called',
    async () => {
      sim.setProfile('isolated', { latency_ms: 2 });
      const warm = await api.post('/batch/execute', {
        action_id: 'isolated',
        payloads: payloads(3),
        cache_ttl_seconds: 0,
      });
      await api.waitForEnd(warm.body.batch_id);

      const listed = await api.get('/circuits');
      expect(listed.status).toBe(200);
      expect(listed.body.circuits).toContainEqual({
        action_id: 'isolated',
        state: 'closed',
        consecutive_failures: 0,
        open_until: null,
      });

      const forced = await api.put('/circuits/isolated', { state: 'forced_open' });
      expect(forced.status).toBe(200);
      expect(forced.body).toEqual({
        action_id: 'isolated',
        state: 'forced_open',
        consecutive_failures: 0,
        open_until: null,
      });
      const callsBefore = await callsOf('isolated');
      // Items 0-2 have a stale copy from the warm-up; 3-5 have none.
      const blocked = await api.post('/batch/execute', {
        action_id: 'isolated',
        payloads: payloads(6),
        cache_ttl_seconds: 0,
      });
      const done = await api.waitForEnd(blocked.body.batch_id);
      expect(done.summary).toMatchObject({ degraded: 3, failed: 3 });
      expect(done.items[0]).toMatchObject({ status: 'degraded', reason: 'circuit_open_fallback' });
      expect(done.items[4]).toMatchObject({ status: 'failed', error_code: 'CIRCUIT_OPEN' });
      expect(await callsOf('isolated')).toBe(callsBefore);
      expect((await api.get('/circuits')).body.circuits).toContainEqual(
        expect.objectContaining({ action_id: 'isolated', state: 'forced_open' }),
      );

      const auto = await api.put('/circuits/isolated', { state: 'auto' });
      expect(auto.body.state).toBe('closed');
      const resumed = await api.post('/batch/execute', {
        action_id: 'isolated',
        payloads: payloads(6),
        cache_ttl_seconds: 0,
      });
      expect((await api.waitForEnd(resumed.body.batch_id)).summary.successful).toBe(6);
      expect(await callsOf('isolated')).toBe(callsBefore + 6);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'names the field of a bad action id or state',
    async () => {
      const cases: [string, unknown, string][] = [
        ['a..b', { state: 'forced_open' }, 'action_id'],
        ['-starts-with-dash', { state: 'forced_open' }, 'action_id'],
        ['has%20space', { state: 'auto' }, 'action_id'],
        ['x'.repeat(129), { state: 'auto' }, 'action_id'],
        ['fine', { state: 'open' }, 'state'],
        ['fine', { state: 'closed' }, 'state'],
        ['fine', {}, 'state'],
        ['fine', { state: 'auto', until: 5 }, 'until'],
      ];
      for (const [actionId, body, field] of cases) {
        const response = await api.put(`/circuits/${actionId}`, body);
        expect({ actionId, body, status: response.status }).toEqual({
          actionId,
          body,
          status: 400,
        });
        expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
      }
      // Nothing was changed by a refused request.
      expect((await api.get('/circuits')).body.circuits.map((c: any) => c.action_id)).not.toContain(
        'fine',
      );
    },
    TEST_TIMEOUT_MS,
  );
});

describe('circuits: callers not in ADMIN_CALLERS', () => {
  let app: NestExpressApplication;
  let api: Api;
  beforeAll(async () => {
    ({ app } = await startTestApp({}));
    const address = app.getHttpServer().address() as { port: number };
    api = apiFor(`http://127.0.0.1:${address.port}`);
  });
  afterAll(() => app?.close());

  it(
    'may list the circuits but not force one (403 naming the field)',
    async () => {
      expect((await api.get('/circuits')).status).toBe(200);
      const response = await api.put('/circuits/lookup', { state: 'forced_open' });
      expect(response.status).toBe(403);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.body).toMatchObject({ status: 403, code: 'FORBIDDEN' });
      expect(response.body.errors).toEqual([
        { field: 'Authorization', message: expect.any(String) },
      ]);
      // Refused before the body is looked at: a bad body changes nothing in the answer.
      expect((await api.put('/circuits/a..b', { state: 'nope' })).status).toBe(403);
      expect((await api.get('/circuits')).body.circuits).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );
});
