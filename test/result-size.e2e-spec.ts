import { Logger } from '@nestjs/common';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { apiFor } from './helpers/api.js';
import { startTestApp } from './helpers/test-app.js';

// MAX_RESULT_BYTES: an answer larger than that fails its item (RESPONSE_TOO_LARGE), in every
// store, and is not called again. The simulator echoes the payload, so a long payload makes a
// long answer.

let sim: SimulatorHandle;
beforeAll(async () => {
  Logger.overrideLogger(false);
  sim = await startSimulator({ port: 0 });
});
afterAll(async () => {
  await sim.close();
});

describe.each(['memory', 'sqlite'])('answers over MAX_RESULT_BYTES (%s store)', (store) => {
  it('fail their item with RESPONSE_TOO_LARGE, once, while the other items succeed', async () => {
    const { app, url } = await startTestApp({
      CXONE_API_URL: sim.url,
      STORE: store,
      MAX_RESULT_BYTES: '2048',
    });
    const api = apiFor(url);
    try {
      const accepted = await api.post('/batch/execute', {
        action_id: `big-${store}`,
        payloads: [{ id: 'small' }, { id: 'large', text: 'x'.repeat(3000) }],
        cache_ttl_seconds: 0,
      });
      expect(accepted.status).toBe(202);
      const done = await api.waitForEnd(accepted.body.batch_id);
      expect(done.summary).toMatchObject({ successful: 1, failed: 1 });
      expect(done.items[0]).toMatchObject({ id: 'small', status: 'success' });
      expect(done.items[1]).toMatchObject({
        id: 'large',
        status: 'failed',
        error_code: 'RESPONSE_TOO_LARGE',
        attempts: 1,
      });
      expect(done.items[1].error).toContain('MAX_RESULT_BYTES (2048 bytes)');
      expect(sim.attempts(`${accepted.body.batch_id}-1`)).toBe(1);
    } finally {
      await app.close();
    }
  }, 30000);
});
