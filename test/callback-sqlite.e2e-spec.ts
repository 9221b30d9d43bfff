import { Logger } from '@nestjs/common';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { payloads } from './helpers/api.js';
import { startReceiver, type CallbackReceiver } from './helpers/callback-receiver.js';
import { temporaryDataDir } from './helpers/data-dir.js';
import {
  serviceApi,
  startService,
  waitFor,
  type ServiceProcess,
} from './helpers/service-process.js';

// Callbacks in the sqlite store (the default without REDIS_URL): a delivery under way when the
// process is killed is made again after the restart on the same DATA_DIR, with the same id.

/**
 * An attempt's claim lasts CALLBACK_TIMEOUT_MS + 5 s: the restarted process takes over after that. Long enough
 * that an attempt on a busy machine (the whole suite running) still gets its answer.
 */
const CALLBACK_TIMEOUT_MS = 5000;

let sim: SimulatorHandle;
let receiver: CallbackReceiver | undefined;
const processes: ServiceProcess[] = [];

beforeAll(async () => {
  Logger.overrideLogger(false);
  sim = await startSimulator({ port: 0, seed: 7 });
});
afterEach(async () => {
  for (const service of processes.splice(0)) await service.kill();
  await receiver?.close();
  receiver = undefined;
});
afterAll(async () => {
  await sim?.close();
});

it('delivers after a SIGKILL mid-attempt and a restart on the same DATA_DIR, with the same webhook-id', async () => {
  // The first attempt is held open (no answer) while the process is killed; later ones succeed.
  receiver = await startReceiver((n) => (n === 0 ? 'hold' : 204));
  const env = {
    STORE: 'sqlite',
    DATA_DIR: temporaryDataDir(),
    CXONE_API_URL: sim.url,
    CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
    CALLBACK_SECRET: 'sqlite-callback-secret-0123',
    CALLBACK_TIMEOUT_MS: String(CALLBACK_TIMEOUT_MS),
  };
  const first = await startService(env);
  processes.push(first);
  const submitted = await serviceApi(first.url).post('/batch/execute', {
    action_id: 'callback-sqlite-kill',
    payloads: payloads(5),
    cache_ttl_seconds: 0,
    callback_url: receiver.url('/kill'),
  });
  expect(submitted.status).toBe(202);
  const batchId = submitted.body.batch_id as string;

  await receiver.waitFor(1, 20_000);
  await first.kill('SIGKILL');

  const second = await startService(env);
  processes.push(second);
  const api = serviceApi(second.url);
  let body: any;
  await waitFor(
    async () => {
      const response = await api.get(`/batch/${batchId}/status`);
      body = response.body;
      return response.status === 200 && body.callback?.status === 'delivered';
    },
    30_000,
    `callback of ${batchId}`,
  );
  expect(body.callback).toEqual({
    status: 'delivered',
    // The attempt cut short, and the one that delivered (one more if it timed out on a busy machine).
    attempts: receiver.received.length,
    last_error: receiver.received.length === 2 ? null : expect.any(String),
    delivered_at: expect.any(String),
  });
  expect(receiver.received.length).toBeGreaterThanOrEqual(2);
  const [held, ...later] = receiver.received;
  for (const again of later) {
    expect(again.headers['webhook-id']).toBe(held.headers['webhook-id']);
    expect(again.body).toBe(held.body);
  }
  const delivered = later[later.length - 1];
  expect(JSON.parse(delivered.body)).toMatchObject({
    batch_id: batchId,
    status: 'completed',
    summary: { total: 5, successful: 5 },
  });
}, 90_000);
