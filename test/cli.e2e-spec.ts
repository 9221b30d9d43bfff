import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { stringify as stringifyCsv } from 'csv-stringify/sync';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { apiFor, type Api } from './helpers/api.js';
import { CXO_BIN, runCli, startCli } from './helpers/cli.js';
import { startService, waitFor, type ServiceProcess } from './helpers/service-process.js';
import { TEST_API_KEY } from './helpers/test-app.js';

// `cxo` end to end: the built CLI in its own process, a service process (`node dist/main.js`)
// with an API key, the simulator behind it, all over loopback HTTP.

const API_KEY = TEST_API_KEY;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A progress line without a terminal: `<id>  <status>  <done>/<total>  (<percent>%) …`. */
const PROGRESS_LINE = /^([0-9a-f-]{36})\s+(\w+)\s+(\d+)\/(\d+)\s+\((\d+)%\)/;

let sim: SimulatorHandle;
let service: ServiceProcess;
let api: Api;
let dir: string;

const cli = (args: string[], apiKey: string | undefined = API_KEY) =>
  runCli(args, { url: service.url, apiKey });

async function allItems(batchId: string): Promise<any[]> {
  const items: any[] = [];
  for (let offset = 0; ; offset += 1000) {
    const { body } = await api.get(`/batch/${batchId}/status?offset=${offset}&limit=1000`);
    items.push(...body.items);
    if (items.length >= body.pagination.total) return items;
  }
}

function writeCsv(file: string, rows: number): void {
  const records = Array.from({ length: rows }, (_, n) => ({
    id: `c-${n}`,
    // Commas, quotes and non-ASCII text survive the round trip.
    name: `Customer "${n}", Zoë`,
    segment: n % 3 === 0 ? 'silver' : 'gold',
  }));
  writeFileSync(file, stringifyCsv(records, { header: true }));
}

beforeAll(async () => {
  sim = await startSimulator({
    port: 0,
    profiles: {
      '*': { latency_ms: 5 },
      'csv-flaky': { latency_ms: 25, jitter_ms: 10, error_rate: 0.05, error_status: 400 },
      slow: { latency_ms: 3000 },
    },
  });
  service = await startService({
    CXONE_API_URL: sim.url,
    API_KEYS: API_KEY,
    AUTH_DISABLED: 'false',
  });
  api = apiFor(service.url);
  dir = mkdtempSync(join(tmpdir(), 'cxo-cli-'));
}, 30_000);

afterAll(async () => {
  await service?.kill();
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('cxo submit --wait without a terminal', () => {
  let batchId: string;

  it('submits a CSV of 2,500 rows, prints a line every few seconds up to 2,500/2,500 and exits 2 when some items failed', async () => {
    const file = join(dir, 'customers.csv');
    writeCsv(file, 2500);
    const run = await cli(['submit', file, '--action', 'csv-flaky', '--workers', '8', '--wait']);

    const ids = run.stdout.trim().split('\n');
    expect(ids).toHaveLength(1);
    expect(ids[0]).toMatch(UUID);
    batchId = ids[0];

    const progress = run.stderr
      .split('\n')
      .map((line) => PROGRESS_LINE.exec(line))
      .filter((match) => match !== null);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.every((match) => match[1] === batchId && match[4] === '2500')).toBe(true);
    const counts = progress.map((match) => Number(match[3]));
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(counts[counts.length - 1]).toBe(2500);
    expect(progress[progress.length - 1][2]).toBe('completed');

    const { body: status } = await api.get(`/batch/${batchId}/status?limit=1`);
    expect(status.summary.total).toBe(2500);
    expect(status.summary.failed).toBeGreaterThan(0);
    expect(run.stderr).toContain(
      `${batchId} completed: 2500 items, ${status.summary.successful} success, ` +
        `${status.summary.failed} failed, ${status.summary.degraded} degraded`,
    );
    expect(run.code).toBe(2);

    // Each row went out as an object of strings, commas, quotes and all.
    const items = await allItems(batchId);
    const succeeded =
      items.find((item) => item.status === 'success' && item.index === 7) ??
      items.find((item) => item.status === 'success');
    expect(succeeded.data.data).toEqual({
      id: `c-${succeeded.index}`,
      name: `Customer "${succeeded.index}", Zoë`,
      segment: succeeded.index % 3 === 0 ? 'silver' : 'gold',
    });
  }, 120_000);

  it('exits 0 when every item succeeded (a .json array)', async () => {
    const file = join(dir, 'small.json');
    writeFileSync(file, JSON.stringify([{ id: 'a' }, { id: 'b', nested: { n: 1 } }, { id: 'c' }]));
    const run = await cli(['submit', file, '--action', 'steady', '--cache-ttl', '0', '--wait']);
    expect(run.stderr).toMatch(/completed: 3 items, 3 success, 0 failed/);
    expect(run.code).toBe(0);
  }, 60_000);

  it('writes the results to CSV that reads back as the API items, and JSONL filtered by status', async () => {
    const out = join(dir, 'results.csv');
    const run = await cli(['results', batchId, '--out', out]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`Wrote 2500 items to ${out}`);

    const rows = parseCsv<Record<string, string>>(readFileSync(out), { columns: true });
    const items = await allItems(batchId);
    expect(rows).toHaveLength(2500);
    rows.forEach((row, n) => {
      const item = items[n];
      expect(row.id).toBe(String(item.id));
      expect(Number(row.index)).toBe(item.index);
      expect(row.status).toBe(item.status);
      expect(row.error_code).toBe(item.error_code ?? '');
      expect(row.data === '' ? undefined : JSON.parse(row.data)).toEqual(item.data);
    });

    const failed = await cli(['results', batchId, '--status', 'failed', '--format', 'jsonl']);
    const lines = failed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.length).toBe(items.filter((item) => item.status === 'failed').length);
    expect(lines.every((item) => item.status === 'failed' && item.error_code)).toBe(true);
  }, 60_000);

  it('shows the status readably (exit 2: not every item succeeded) and the batch in the list', async () => {
    const status = await cli(['status', batchId]);
    expect(status.code).toBe(2);
    expect(status.stdout).toMatch(new RegExp(`^Batch\\s+${batchId}$`, 'm'));
    expect(status.stdout).toMatch(/^Status\s+completed, 100\.0 %$/m);
    expect(status.stdout).toMatch(/^Items\s+2500 total, \d+ success, [1-9]\d* failed/m);

    const list = await cli(['list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^${batchId}\\s+csv-flaky\\s+\\S+\\s+completed`, 'm'));
  }, 30_000);
});

describe('cxo submit of a long file', () => {
  it('splits 250,000 JSONL lines into batches of 100,000 with the memory of a short file', async () => {
    const file = join(dir, 'large.jsonl');
    const stream = createWriteStream(file);
    for (let n = 0; n < 250_000; n++) {
      const line = `${JSON.stringify({ id: `row-${n}`, email: `customer${n}@example.com`, note: 'x'.repeat(60) })}\n`;
      if (!stream.write(line)) await once(stream, 'drain');
    }
    stream.end();
    await once(stream, 'finish');

    const run = await cli(['submit', file, '--action', 'slow', '--cache-ttl', '0']);
    const ids = run.stdout.trim().split('\n');
    try {
      expect(run.code).toBe(0);
      expect(run.stderr).toContain('Submitting 250000 payloads');
      expect(ids).toHaveLength(3);
      const totals: number[] = [];
      for (const [n, id] of ids.entries()) {
        expect(id).toMatch(UUID);
        const { body } = await api.get(`/batch/${id}/status?limit=1`);
        totals.push(body.summary.total);
        expect(body.items[0].id).toBe(`row-${n * 100_000}`);
      }
      expect(totals).toEqual([100_000, 100_000, 50_000]);
      // Reading the file whole (250,000 objects, a 100,000-payload body as one string) peaks
      // above 250 MB; streamed, the CLI stays near an idle Node process.
      expect(run.peakRssKb).toBeGreaterThan(0);
      expect(run.peakRssKb).toBeLessThan(180 * 1024);
    } finally {
      for (const id of ids.filter((line) => UUID.test(line))) {
        await api.post(`/batch/${id}/cancel`, undefined);
      }
    }
  }, 180_000);
});

describe('cxo problems and interruptions', () => {
  it('prints the problem title and detail on a wrong key and exits 1, submitting nothing', async () => {
    const { body: problem } = await apiFor(service.url, { auth: false }).get('/batch', {
      authorization: 'Bearer not-the-key',
    });
    const list = await cli(['list'], 'not-the-key');
    expect(list.code).toBe(1);
    expect(list.stderr).toContain(`${problem.title} (401): ${problem.detail}`);

    const file = join(dir, 'two.jsonl');
    writeFileSync(file, '{"id":1}\n{"id":2}\n');
    const before = (await api.get('/batch?limit=100')).body.batches.length;
    const submit = await cli(['submit', file, '--action', 'steady'], 'not-the-key');
    expect(submit.code).toBe(1);
    expect(submit.stdout).toBe('');
    expect(submit.stderr).toContain(`${problem.title} (401): ${problem.detail}`);
    expect((await api.get('/batch?limit=100')).body.batches.length).toBe(before);
  }, 30_000);

  it('names the bad line of an input file and sends nothing', async () => {
    const file = join(dir, 'bad.jsonl');
    writeFileSync(file, '{"id":1}\n\n[2]\n');
    const before = (await api.get('/batch?limit=100')).body.batches.length;
    const run = await cli(['submit', file, '--action', 'steady']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`Invalid input file: ${file} line 3: must be a JSON object`);
    expect((await api.get('/batch?limit=100')).body.batches.length).toBe(before);
  }, 30_000);

  it('prints a 409 problem for a cancel of a finished batch', async () => {
    const accepted = await api.post('/batch/execute', {
      action_id: 'steady',
      payloads: [{ id: 1 }],
    });
    await api.waitForEnd(accepted.body.batch_id);
    const run = await cli(['cancel', accepted.body.batch_id]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^cxo: Conflict \(409\): .*finished/m);
  }, 30_000);

  it('stops waiting on Ctrl-C and says so, leaving the batch running', async () => {
    const file = join(dir, 'slow.jsonl');
    writeFileSync(file, Array.from({ length: 40 }, (_, n) => `{"id":"s-${n}"}`).join('\n'));
    const running = startCli(['submit', file, '--action', 'slow', '--workers', '1', '--wait'], {
      url: service.url,
      apiKey: API_KEY,
    });
    await waitFor(
      async () =>
        running
          .stderr()
          .split('\n')
          .some((line) => PROGRESS_LINE.test(line)),
      20_000,
      'first progress line',
    );
    const batchId = running.stdout().trim();
    running.child.kill('SIGINT');
    const run = await running.done;
    expect(run.code).toBe(130);
    expect(run.stderr).toContain(
      `Stopped waiting (Ctrl-C). The batch keeps running; follow again with: cxo watch ${batchId}`,
    );
    const { body } = await api.get(`/batch/${batchId}/status?limit=1`);
    expect(['queued', 'running']).toContain(body.status);
    await api.post(`/batch/${batchId}/cancel`, undefined);
  }, 60_000);
});

describe('cxo on a terminal', () => {
  it('draws a live progress bar under a pseudo-terminal', async () => {
    const file = join(dir, 'tty.csv');
    writeCsv(file, 300);
    // script(1) runs the command on a pseudo-terminal and copies what it draws to stdout.
    const command = [
      process.execPath,
      CXO_BIN,
      'submit',
      file,
      '--action',
      'steady',
      '--workers',
      '4',
      '--cache-ttl',
      '0',
      '--wait',
    ]
      .map((part) => `'${part}'`)
      .join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      env: {
        PATH: process.env.PATH ?? '',
        CXO_URL: service.url,
        CXO_API_KEY: API_KEY,
        TERM: 'xterm',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let screen = '';
    child.stdout.on('data', (chunk: Buffer) => (screen += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(0);
    // The bar (cli-progress' block characters), redrawn in place with cursor controls.
    expect(screen).toContain('\u2588');
    expect(screen).toContain('\u001b[1G');
    expect(screen).toMatch(/100% 300\/300 [\d.-]+\/s ETA \S+ \| ok 300 failed 0 degraded 0/);
    expect(screen).not.toMatch(PROGRESS_LINE);
    expect(screen).toContain('completed: 300 items, 300 success');
  }, 60_000);
});

describe('npx cxo', () => {
  it('runs the package bin from the project', () => {
    const run = spawnSync('npx', ['--no-install', 'cxo', '--version'], {
      cwd: resolve(import.meta.dirname, '..'),
      encoding: 'utf8',
      timeout: 60_000,
    });
    const version = JSON.parse(
      readFileSync(resolve(import.meta.dirname, '..', 'package.json'), 'utf8'),
    ).version;
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe(version);
  }, 60_000);
});
