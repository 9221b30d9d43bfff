import { Logger } from '@nestjs/common';
import {
  accessSync,
  chmodSync,
  constants,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteDatabase } from '../src/batch/sqlite/sqlite-database.js';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { apiFor, payloads } from './helpers/api.js';
import { temporaryDataDir } from './helpers/data-dir.js';
import {
  failedStart,
  serviceApi,
  startService,
  waitFor,
  type ServiceProcess,
} from './helpers/service-process.js';
import { startTestApp } from './helpers/test-app.js';

// The default store keeps what it accepted: real service processes (`node dist/main.js`) on a
// real SQLite file, killed and restarted; the simulator's count of calls per X-Request-Id shows
// which items were called again.

const started: ServiceProcess[] = [];
let sim: SimulatorHandle;

beforeAll(async () => {
  Logger.overrideLogger(false);
  sim = await startSimulator({ port: 0, profiles: { '*': { latency_ms: 40 } } });
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((service) => service.kill()));
});
afterAll(async () => {
  await sim.close();
});

async function service(dataDir: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
  const process = await startService({ CXONE_API_URL: sim.url, DATA_DIR: dataDir, ...env });
  started.push(process);
  return process;
}

/** Indexes of the items that have an outcome, from the status pages. */
async function recordedIndexes(url: string, batchId: string, total: number): Promise<Set<number>> {
  const api = serviceApi(url);
  const recorded = new Set<number>();
  for (let offset = 0; offset < total; offset += 1000) {
    const page = await api.get(`/batch/${batchId}/status?offset=${offset}&limit=1000`);
    expect(page.status).toBe(200);
    for (const item of page.body.items) if (item.status !== 'pending') recorded.add(item.index);
  }
  return recorded;
}

function attemptsOf(batchId: string, total: number): number[] {
  const all = sim.allAttempts();
  return Array.from({ length: total }, (_, index) => all[`${batchId}-${index}`] ?? 0);
}

describe('sqlite store: a killed process resumes what it accepted', () => {
  it('after kill -9 and a restart, runs only the unrecorded items; finished batches and idempotency keys survive', async () => {
    const dataDir = temporaryDataDir();
    const total = 600;
    const maxWorkers = 10;
    const body = {
      action_id: 'durable',
      payloads: payloads(total),
      max_workers: maxWorkers,
      cache_ttl_seconds: 0,
    };
    const first = await service(dataDir);
    let api = serviceApi(first.url);

    const small = await api.post('/batch/execute', {
      action_id: 'finished-first',
      payloads: payloads(3),
      cache_ttl_seconds: 0,
    });
    const finished = await api.waitForEnd(small.body.batch_id);

    const accepted = await api.post('/batch/execute', body, { 'Idempotency-Key': 'order-1' });
    expect(accepted.status).toBe(202);
    const batchId: string = accepted.body.batch_id;
    await waitFor(
      async () =>
        (await api.get(`/batch/${batchId}/status?limit=1`)).body.summary.successful >= 150,
      20000,
      'a quarter of the batch',
    );
    const recordedBeforeKill = await recordedIndexes(first.url, batchId, total);
    await first.kill('SIGKILL');
    expect(recordedBeforeKill.size).toBeGreaterThanOrEqual(150);
    expect(recordedBeforeKill.size).toBeLessThan(total);

    const second = await service(dataDir);
    api = serviceApi(second.url);
    const done = await api.waitForEnd(batchId, 30000);
    expect(done.status).toBe('completed');
    expect(done.summary).toMatchObject({ total, successful: total, pending: 0 });

    const attempts = attemptsOf(batchId, total);
    // Every item was called, none more than twice (the same X-Request-Id both times) …
    expect(Math.min(...attempts)).toBe(1);
    expect(Math.max(...attempts)).toBeLessThanOrEqual(2);
    // … an item recorded before the kill never again, and only those in flight at the kill
    // (at most max_workers) twice.
    for (const index of recordedBeforeKill) expect(attempts[index]).toBe(1);
    expect(attempts.filter((count) => count === 2).length).toBeLessThanOrEqual(maxWorkers);

    const again = await api.post('/batch/execute', body, { 'Idempotency-Key': 'order-1' });
    expect(again.status).toBe(200);
    expect(again.body.batch_id).toBe(batchId);
    const earlier = await api.get(`/batch/${finished.batch_id}/status`);
    expect(earlier.status).toBe(200);
    expect(earlier.body).toMatchObject({ status: 'completed', summary: { successful: 3 } });
  }, 90000);

  it('on SIGTERM stops scheduling, lets the calls in flight finish, and the next start does the rest', async () => {
    const dataDir = temporaryDataDir();
    const total = 100;
    sim.setProfile('graceful', { latency_ms: 300 });
    const first = await service(dataDir, { SHUTDOWN_GRACE_SECONDS: '10' });
    let api = serviceApi(first.url);
    const accepted = await api.post('/batch/execute', {
      action_id: 'graceful',
      payloads: payloads(total),
      max_workers: 5,
      cache_ttl_seconds: 0,
    });
    const batchId: string = accepted.body.batch_id;
    await waitFor(
      async () => (await api.get(`/batch/${batchId}/status?limit=1`)).body.summary.successful >= 10,
      20000,
      'the first items',
    );
    const stoppedAt = Date.now();
    await first.kill('SIGTERM');
    expect(await first.exited).toBe(null);
    // The calls in flight (300 ms each) finished; the batch was not run to its end.
    expect(Date.now() - stoppedAt).toBeLessThan(5000);
    const calledBeforeRestart = attemptsOf(batchId, total).filter((count) => count > 0).length;
    expect(calledBeforeRestart).toBeLessThan(total);

    const second = await service(dataDir);
    api = serviceApi(second.url);
    const done = await api.waitForEnd(batchId, 30000);
    expect(done.summary).toMatchObject({ total, successful: total });
    // Nothing was in flight unrecorded when the first process exited: every item ran once.
    expect(attemptsOf(batchId, total).every((count) => count === 1)).toBe(true);
  }, 90000);
});

describe('sqlite store: the data directory', () => {
  it('refuses a second process on the same directory with one line naming it; a killed one does not block', async () => {
    const dataDir = temporaryDataDir();
    const first = await service(dataDir);
    const second = await failedStart({ CXONE_API_URL: sim.url, DATA_DIR: dataDir });
    expect(second.code).toBe(1);
    expect(second.stderr.trim()).toBe(
      `DATA_DIR ${dataDir} is in use by another process (pid ${first.pid}): one service process per data directory`,
    );
    expect(second.stdout).toBe('');

    await first.kill('SIGKILL');
    const third = await service(dataDir);
    expect((await fetch(`${third.url}/health/ready`)).status).toBe(200);
  }, 60000);

  it('refuses a directory it cannot write, or cannot create, with one line naming it', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'cxo-readonly-'));
    chmodSync(parent, 0o555);
    let readOnly = parent;
    try {
      accessSync(parent, constants.W_OK);
      // Root writes whatever the mode: /proc/sys refuses it too.
      readOnly = '/proc/sys';
    } catch {
      // not root: the mode is enough
    }
    try {
      const refused = await failedStart({ CXONE_API_URL: sim.url, DATA_DIR: readOnly });
      expect(refused.code).toBe(1);
      expect(refused.stderr.trim()).toMatch(
        new RegExp(`^DATA_DIR ${readOnly} is not writable \\([A-Z]+[^\\n]*\\)$`),
      );
    } finally {
      chmodSync(parent, 0o755);
    }

    writeFileSync(join(parent, 'a-file'), '');
    const impossible = join(parent, 'a-file', 'data');
    const notCreated = await failedStart({ CXONE_API_URL: sim.url, DATA_DIR: impossible });
    expect(notCreated.code).toBe(1);
    expect(notCreated.stderr.trim()).toMatch(
      new RegExp(`^DATA_DIR ${impossible} cannot be created \\(ENOTDIR[^\\n]*\\)$`),
    );
    rmSync(parent, { recursive: true, force: true });
  }, 60000);

  it('refuses a damaged database file with one line, and keeps the file for a look', async () => {
    const dataDir = temporaryDataDir();
    const damaged = 'this is not a database\n'.repeat(100);
    writeFileSync(join(dataDir, 'orchestrator.sqlite'), damaged);
    const refused = await failedStart({ CXONE_API_URL: sim.url, DATA_DIR: dataDir });
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toMatch(
      new RegExp(
        `^DATA_DIR ${dataDir}: orchestrator.sqlite is damaged or not a database \\(.*\\); move it away to start with an empty store$`,
      ),
    );
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(readFileSync(join(dataDir, 'orchestrator.sqlite'), 'utf8')).toBe(damaged);
  }, 30000);

  it('refuses a bad STORE with one line naming it', async () => {
    const refused = await failedStart({ CXONE_API_URL: sim.url, STORE: 'postgres' });
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toMatch(/^Invalid configuration: STORE must be one of/);
    expect(refused.stderr).toContain('"postgres"');
  }, 30000);
});

describe('sqlite store: writes failing while running (a full disk)', () => {
  it('answers 503 on intake, pauses running batches, and resumes them once writes work', async () => {
    sim.setProfile('paused', { latency_ms: 20 });
    const { app, url } = await startTestApp({ CXONE_API_URL: sim.url });
    const api = apiFor(url);
    const database = app.get(SqliteDatabase);
    try {
      const running = await api.post('/batch/execute', {
        action_id: 'paused',
        payloads: payloads(300),
        max_workers: 4,
        cache_ttl_seconds: 0,
      });
      const batchId: string = running.body.batch_id;
      await waitFor(
        async () =>
          (await api.get(`/batch/${batchId}/status?limit=1`)).body.summary.successful > 20,
        10000,
        'the batch running',
      );
      database.exec('PRAGMA query_only = ON');
      await waitFor(
        async () =>
          (await (await fetch(`${url}/health/ready`)).json()).details.data_dir.writes !== 'ok',
        5000,
        'a write failing',
      );
      const refused = await api.post('/batch/execute', {
        action_id: 'paused',
        payloads: payloads(2),
      });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
      expect(refused.headers.get('retry-after')).toBe('5');
      // Status polls are still answered, and the batch does not move on.
      const during = (await api.get(`/batch/${batchId}/status?limit=1`)).body.summary;
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await api.get(`/batch/${batchId}/status?limit=1`)).body.summary).toEqual(during);
      expect((await fetch(`${url}/health/ready`)).status).toBe(200);

      database.exec('PRAGMA query_only = OFF');
      const done = await api.waitForEnd(batchId, 30000);
      expect(done.summary).toMatchObject({ total: 300, successful: 300 });
      expect(attemptsOf(batchId, 300).every((count) => count === 1)).toBe(true);
      const later = await api.post('/batch/execute', {
        action_id: 'paused',
        payloads: payloads(2),
      });
      expect(later.status).toBe(202);
    } finally {
      await app.close();
    }
  }, 60000);
});
