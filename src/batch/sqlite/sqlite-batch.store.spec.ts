import { Logger } from '@nestjs/common';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config/load-config.js';
import { DomainError } from '../../lib/domain-error.js';
import { StartupError } from '../../lib/startup-error.js';
import { ReadinessService } from '../../health/readiness.service.js';
import type { BatchMeta, ItemOutcome } from '../core/batch.types.js';
import { SqliteBatchStore } from './sqlite-batch.store.js';
import { DATABASE_FILE, SqliteDatabase } from './sqlite-database.js';

// What only the sqlite store has, on a real database file: surviving a reopen, payloads dropped
// as items succeed, a cancelled batch read without a row per item, deletion in slices, a failing
// disk, the directory's lock. The rules every store shares are in the BatchStore contract
// (test/contracts/batch-store.contract.ts).

const config = loadConfig({
  CXONE_SIMULATOR: 'true',
  CXONE_API_URL: 'http://127.0.0.1:9',
  AUTH_DISABLED: 'true',
  BATCH_RETENTION_SECONDS: '60',
});

let seq = 0;
function meta(total: number, chunkSize = 10, createdAt = new Date()): BatchMeta {
  seq += 1;
  return {
    batchId: `batch-${seq}-${Math.random().toString(16).slice(2, 8)}`,
    caller: 'default',
    actionId: 'act',
    status: 'queued',
    traceId: 'b'.repeat(32),
    traceFlags: '01',
    options: { chunkSize, maxWorkers: 2, timeoutMs: 1000, cacheTtlSeconds: 0 },
    total,
    createdAt: createdAt.toISOString(),
    startedAt: null,
    finishedAt: null,
  };
}

const success = (latencyMs = 10): ItemOutcome => ({
  status: 'success',
  data: { ok: true },
  cached: false,
  attempts: 1,
  latencyMs,
});
const failed: ItemOutcome = {
  status: 'failed',
  error: 'nope',
  errorCode: 'UPSTREAM_4XX',
  attempts: 1,
  latencyMs: 3,
};

const directories: string[] = [];
function newDirectory(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cxo-sqlite-store-'));
  directories.push(dir);
  return dir;
}

const open: SqliteBatchStore[] = [];
function openStore(dir = newDirectory()): { store: SqliteBatchStore; database: SqliteDatabase } {
  const database = SqliteDatabase.open(dir);
  const store = new SqliteBatchStore(database, config);
  open.push(store);
  return { store, database };
}

function close(store: SqliteBatchStore): void {
  store.onModuleDestroy();
  store.onApplicationShutdown();
}

beforeAll(() => Logger.overrideLogger(false));
afterAll(() => {
  for (const store of open) close(store);
  for (const dir of directories) rmSync(dir, { recursive: true, force: true });
});

describe('SqliteBatchStore', () => {
  let store: SqliteBatchStore;
  beforeAll(() => {
    store = openStore().store;
  });

  it('drops the payload of an item that succeeded and keeps a failed one (it may run again)', async () => {
    const batch = meta(3);
    await store.create(batch, [{ n: 0 }, { n: 1 }, { n: 2 }]);
    await store.recordOutcome(batch.batchId, 0, success());
    await store.recordOutcome(batch.batchId, 1, failed);
    expect(await store.getPayloads(batch.batchId, 0, 3)).toEqual([undefined, { n: 1 }, { n: 2 }]);
  });

  it('reads the items a cancel left pending as cancelled, merged in index order with those recorded as cancelled', async () => {
    const batch = meta(4);
    await store.create(batch, [{}, {}, {}, {}]);
    await store.markRunning(batch.batchId, new Date().toISOString());
    await store.recordOutcome(batch.batchId, 0, success());
    await store.recordOutcome(batch.batchId, 3, {
      status: 'cancelled',
      error: 'call cancelled',
      errorCode: 'CANCELLED',
      attempts: 0,
      latencyMs: 0,
    });
    const cancelled = await store.cancel(batch.batchId, new Date().toISOString());
    expect(cancelled).toMatchObject({ status: 'cancelled', finishedAt: null });
    expect(await store.summary(batch.batchId)).toMatchObject({
      successful: 1,
      cancelled: 3,
      pending: 0,
    });
    expect(await store.cancel(batch.batchId, new Date().toISOString())).toBeUndefined();
    expect(await store.markRunning(batch.batchId, new Date().toISOString())).toBe(false);

    const page = await store.page(batch.batchId, 0, 10);
    expect(page.items.map((item) => item.outcome?.status)).toEqual([
      'success',
      'cancelled',
      'cancelled',
      'cancelled',
    ]);
    expect(page.items[1].outcome).toMatchObject({ errorCode: 'CANCELLED', attempts: 0 });
    const byStatus = await store.page(batch.batchId, 1, 10, 'cancelled');
    expect(byStatus.total).toBe(3);
    expect(byStatus.items.map((item) => item.index)).toEqual([2, 3]);
    expect((await store.page(batch.batchId, 0, 10, 'pending')).items).toEqual([]);
    expect(await store.recordedIn(batch.batchId, 0, 4)).toEqual([true, true, true, true]);

    await store.recordOutcome(batch.batchId, 1, success());
    await store.recordOutcome(batch.batchId, 0, failed);
    expect(await store.summary(batch.batchId)).toMatchObject({
      successful: 2,
      failed: 0,
      cancelled: 2,
      pending: 0,
    });
    const finished = await store.markFinished(batch.batchId, new Date().toISOString());
    expect(finished).toMatchObject({ status: 'cancelled', finishedAt: expect.any(String) });
  });

  it('tells the queue which batches are unfinished and how many items they hold', async () => {
    const { store: own } = openStore();
    const a = meta(10);
    const b = meta(5);
    const c = meta(1);
    await own.create(
      a,
      Array.from({ length: 10 }, () => ({})),
    );
    await own.create(
      b,
      Array.from({ length: 5 }, () => ({})),
    );
    await own.create(c, [{}]);
    await own.markRunning(c.batchId, new Date().toISOString());
    await own.cancel(c.batchId, new Date().toISOString());
    // Cancelled while running and not finished yet: it still needs its run to end it.
    expect(own.unfinishedBatchIds()).toEqual([a.batchId, b.batchId, c.batchId]);
    expect(own.unfinishedItems()).toBe(16);
    await own.markRunning(a.batchId, new Date().toISOString());
    await own.markFinished(a.batchId, new Date().toISOString());
    await own.cancel(b.batchId, new Date().toISOString());
    await own.markFinished(c.batchId, new Date().toISOString());
    expect(own.unfinishedBatchIds()).toEqual([]);
    expect(own.unfinishedItems()).toBe(0);
  });

  it('deletes a finished batch larger than one deletion slice, and its idempotency key, after the retention time', async () => {
    const { store: own } = openStore();
    const done = meta(4500);
    const running = meta(1);
    await own.claimIdempotencyKey('retained-key', { batchId: done.batchId, bodyHash: 'h' });
    await own.create(
      done,
      Array.from({ length: 4500 }, (_, n) => ({ n })),
    );
    await own.create(running, [{}]);
    await own.markRunning(running.batchId, new Date().toISOString());
    const finishedAt = Date.parse('2026-01-01T00:00:00Z');
    await own.cancel(done.batchId, new Date(finishedAt).toISOString());

    await own.sweep(finishedAt + 59_000);
    expect(await own.getMeta(done.batchId)).toBeDefined();
    await own.sweep(finishedAt + 60_000);
    expect(await own.getMeta(done.batchId)).toBeUndefined();
    expect(await own.getMeta(running.batchId)).toBeDefined();
    expect((await own.list(10)).batches.map((entry) => entry.batchId)).toEqual([running.batchId]);
    expect(
      await own.claimIdempotencyKey('retained-key', { batchId: 'new', bodyHash: 'h2' }),
    ).toBeUndefined();
  });

  it('keeps batches, outcomes and idempotency keys when the file is opened again', async () => {
    const dir = newDirectory();
    const first = openStore(dir).store;
    const batch = meta(3);
    await first.claimIdempotencyKey('kept', { batchId: batch.batchId, bodyHash: 'h' });
    await first.create(batch, [{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
    await first.markRunning(batch.batchId, new Date().toISOString());
    await first.recordOutcome(batch.batchId, 1, success(25));
    close(first);

    const second = openStore(dir).store;
    expect(await second.getMeta(batch.batchId)).toMatchObject({ status: 'running' });
    expect(second.unfinishedBatchIds()).toEqual([batch.batchId]);
    expect(await second.recordedIn(batch.batchId, 0, 3)).toEqual([false, true, false]);
    expect(await second.getPayloads(batch.batchId, 0, 3)).toEqual([
      { id: 'a' },
      undefined,
      { id: 'c' },
    ]);
    expect((await second.page(batch.batchId, 0, 3)).items[1]).toMatchObject({
      id: 'b',
      outcome: { status: 'success', latencyMs: 25 },
    });
    expect(await second.claimIdempotencyKey('kept', { batchId: 'x', bodyHash: 'h' })).toEqual({
      batchId: batch.batchId,
      bodyHash: 'h',
    });
  });

  it('removes an intake cut short (never accepted) at the next sweep', async () => {
    const dir = newDirectory();
    const { store: first, database } = openStore(dir);
    const batch = meta(5000);
    // A crash in the middle of an intake: the batch row and some items, never accepted.
    const intake = first.create(
      batch,
      Array.from({ length: 5000 }, (_, n) => ({ n })),
    );
    database.exec('PRAGMA max_page_count = 1');
    await expect(intake).rejects.toMatchObject({ code: 'NOT_READY' });
    database.exec('PRAGMA max_page_count = 1073741823');
    close(first);

    const { store: second, database: reopened } = openStore(dir);
    const rows = (): number =>
      (
        reopened.connection.prepare('SELECT count(*) AS n FROM items').get() as {
          n: number;
        }
      ).n;
    expect(await second.getMeta(batch.batchId)).toBeUndefined();
    await second.sweep(Date.now());
    expect(rows()).toBe(0);
  });

  it('answers NOT_READY while the disk is full, and works again once there is room', async () => {
    const dir = newDirectory();
    const database = SqliteDatabase.open(dir);
    const readiness = new ReadinessService();
    const own = new SqliteBatchStore(database, config, readiness);
    open.push(own);
    own.onModuleInit();
    const running = meta(2);
    await own.create(running, [{}, {}]);
    await own.markRunning(running.batchId, new Date().toISOString());
    const pages = (database.connection.prepare('PRAGMA page_count').get() as { page_count: number })
      .page_count;
    database.exec(`PRAGMA max_page_count = ${pages}`);

    const refused = await own
      .create(
        meta(3000),
        Array.from({ length: 3000 }, (_, n) => ({ n, text: 'x'.repeat(200) })),
      )
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DomainError);
    expect(refused).toMatchObject({ code: 'NOT_READY' });
    const large = { ...success(), data: { text: 'x'.repeat(50_000) } };
    await expect(own.recordOutcome(running.batchId, 1, large)).rejects.toMatchObject({
      code: 'NOT_READY',
    });
    // Reads still work: status polls are answered while the disk is full.
    await expect(own.ping()).resolves.toBeUndefined();
    expect(await own.summary(running.batchId)).toMatchObject({ pending: 2 });
    expect(await readiness.entries()[0][1]()).toMatchObject({
      writes: expect.stringMatching(/^failing: .*full/),
    });

    database.exec('PRAGMA max_page_count = 1073741823');
    await own.recordOutcome(running.batchId, 0, success());
    expect(await readiness.entries()[0][1]()).toMatchObject({ writes: 'ok' });
    expect(await own.summary(running.batchId)).toMatchObject({ successful: 1, pending: 1 });
  });
});

describe('SqliteDatabase.open', () => {
  it('refuses a second opening of the same directory, naming it and the process that holds it', () => {
    const dir = newDirectory();
    const { store } = openStore(dir);
    expect(() => SqliteDatabase.open(dir)).toThrow(StartupError);
    expect(() => SqliteDatabase.open(dir)).toThrow(
      `DATA_DIR ${dir} is in use by another process (pid ${process.pid})`,
    );
    close(store);
    // Released with the store: the next process may open it.
    SqliteDatabase.open(dir).close();
  });

  it('refuses a file that is not a database, and a database of another application', async () => {
    const damaged = newDirectory();
    writeFileSync(join(damaged, DATABASE_FILE), 'not a database '.repeat(200));
    expect(() => SqliteDatabase.open(damaged)).toThrow(/is damaged or not a database/);

    const foreign = newDirectory();
    const { DatabaseSync } = await import('node:sqlite');
    const other = new DatabaseSync(join(foreign, DATABASE_FILE));
    other.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY)');
    other.close();
    expect(() => SqliteDatabase.open(foreign)).toThrow(
      /is a SQLite database of another application/,
    );
  });

  it('refuses a data directory that cannot be created', () => {
    const parent = newDirectory();
    writeFileSync(join(parent, 'a-file'), '');
    const dir = join(parent, 'a-file', 'data');
    expect(() => SqliteDatabase.open(dir)).toThrow(`DATA_DIR ${dir} cannot be created`);
  });

  it('refuses a database written by a newer version of the service', () => {
    const dir = newDirectory();
    const database = SqliteDatabase.open(dir);
    database.exec('PRAGMA user_version = 999');
    database.close();
    expect(() => SqliteDatabase.open(dir)).toThrow(/newer version of this service \(schema 999/);
  });
});
