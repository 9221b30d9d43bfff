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

// The sqlite store keeps the callback outbox in its file: a process killed (SIGKILL) while its
// attempt is under way leaves the delivery there, and the next start on the same DATA_DIR
// delivers it, with the same webhook-id. Real processes (node dist/main.js), a real file.

let sim: SimulatorHandle;
let receiver: CallbackReceiver;
const processes: ServiceProcess[] = [];

beforeAll(async () => {
  sim = await startSimulator({ port: 0, seed: 9 });
});
afterAll(async () => {
  for (const service of processes) await service.kill();
  await receiver?.close();
  await sim?.close();
});

it('delivers, after a restart on the same DATA_DIR, the callback whose process was killed mid-attempt', async () => {
  // The first attempt is held open (no answer) while its process is killed; the next succeeds.
  receiver = await startReceiver((n) => (n === 0 ? 'hold' : 204));
  const env = {
    STORE: 'sqlite',
    DATA_DIR: temporaryDataDir(),
    CXONE_API_URL: sim.url,
    CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
    CALLBACK_SECRET: 'sqlite-callback-secret-0123',
    // The claim of the attempt cut short lapses 2 s + 5 s after it began.
    CALLBACK_TIMEOUT_MS: '2000',
  };
  const first = await startService(env);
  processes.push(first);
  const submitted = await serviceApi(first.url).post('/batch/execute', {
    action_id: 'callback-sqlite',
    payloads: payloads(4),
    cache_ttl_seconds: 0,
    callback_url: receiver.url('/sqlite'),
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
      body = (await api.get(`/batch/${batchId}/status`)).body;
      return body?.callback?.status === 'delivered';
    },
    30_000,
    'callback delivered after the restart',
  );
  expect(body.status).toBe('completed');
  expect(body.callback).toEqual({
    status: 'delivered',
    attempts: 2,
    last_error: null,
    delivered_at: expect.any(String),
  });
  const [held, delivered] = receiver.received;
  expect(receiver.received).toHaveLength(2);
  expect(delivered.headers['webhook-id']).toBe(held.headers['webhook-id']);
  expect(delivered.body).toBe(held.body);
  expect(JSON.parse(delivered.body)).toMatchObject({ batch_id: batchId, status: 'completed' });
}, 90_000);
