import type { Browser } from 'playwright-core';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { apiFor, payloads, type Api } from './helpers/api.js';
import { launchBrowser, openPage, screenshot, signIn } from './helpers/browser.js';
import { runCli } from './helpers/cli.js';
import { startService, waitFor, type ServiceProcess } from './helpers/service-process.js';

// The console and cxo on the routes and callers that other parts of the service bring: redrive
// (POST /batch/{id}/redrive), circuits (GET /circuits, PUT /circuits/{action}) and API keys with
// caller names (API_KEYS=caller:key, ADMIN_CALLERS, ownership of batches).

const ALICE_KEY = 'alice-key-0123456789abcdef';
const BOB_KEY = 'bob-key-0123456789abcdef';

let sim: SimulatorHandle;
let service: ServiceProcess;
let alice: Api;
let bob: Api;
let browser: Browser;

const asCaller = (key: string): Api => {
  const api = apiFor(service.url, { auth: false });
  const headers = { authorization: `Bearer ${key}` };
  return {
    get: (path, extra) => api.get(path, { ...headers, ...extra }),
    post: (path, body, extra) => api.post(path, body, { ...headers, ...extra }),
    patch: (path, body, extra) => api.patch(path, body, { ...headers, ...extra }),
    put: (path, body, extra) => api.put(path, body, { ...headers, ...extra }),
    async waitForEnd(batchId, timeoutMs = 30_000) {
      let body: any;
      await waitFor(
        async () => {
          body = (await api.get(`/batch/${batchId}/status?limit=1`, headers)).body;
          return body.finished_at !== null && body.summary.pending === 0;
        },
        timeoutMs,
        `batch ${batchId} to end`,
      );
      return body;
    },
  };
};

const cspRefusals = (errors: string[]) =>
  errors.filter((error) => /Content Security Policy|Refused to/i.test(error));

async function submit(api: Api, action: string, count: number): Promise<string> {
  const accepted = await api.post('/batch/execute', {
    action_id: action,
    payloads: payloads(count),
    max_workers: 16,
    cache_ttl_seconds: 0,
  });
  expect(accepted.status).toBe(202);
  return accepted.body.batch_id;
}

beforeAll(async () => {
  sim = await startSimulator({ port: 0, profiles: { '*': { latency_ms: 5 } } });
  service = await startService({
    CXONE_API_URL: sim.url,
    API_KEYS: `alice:${ALICE_KEY},bob:${BOB_KEY}`,
    ADMIN_CALLERS: 'alice',
    AUTH_DISABLED: 'false',
  });
  alice = asCaller(ALICE_KEY);
  bob = asCaller(BOB_KEY);
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await service?.kill();
  await sim?.close();
});

describe('the console with redrive, circuits and callers', () => {
  it("redrives a finished batch's failed items from its page", async () => {
    sim.setProfile('shared-redrive', { latency_ms: 5, error_rate: 0.3, error_status: 400 });
    const batchId = await submit(alice, 'shared-redrive', 300);
    const first = await alice.waitForEnd(batchId);
    expect(first.summary.failed).toBeGreaterThan(0);
    sim.setProfile('shared-redrive', { latency_ms: 5 });

    const { page, errors } = await openPage(browser);
    await signIn(page, service.url, ALICE_KEY);
    await page.goto(`${service.url}/console#/batches/${batchId}`);
    await page.locator('.batch-head .badge-completed').waitFor();
    await page.getByRole('button', { name: 'Redrive' }).click();
    expect(await page.getByRole('status').textContent()).toBe(
      `Redrive 1: ${first.summary.failed} items queued again.`,
    );
    const second = await alice.waitForEnd(batchId);
    expect(second.redrive_count).toBe(1);
    expect(second.summary).toMatchObject({ total: 300, successful: 300, failed: 0 });
    // The page follows the batch through its second run to the end.
    await page.locator('.batch-head .badge-completed').waitFor({ timeout: 15_000 });
    await page
      .locator('.field', { hasText: 'Success' })
      .locator('dd', { hasText: /^300$/ })
      .waitFor({ timeout: 15_000 });
    expect(await page.locator('.field', { hasText: 'Redrives' }).locator('dd').textContent()).toBe(
      '1',
    );
    await screenshot(page, 'console-batch-redriven');
    expect(cspRefusals(errors)).toEqual([]);
    await page.context().close();
  }, 90_000);

  it('shows a forced-open circuit', async () => {
    await submit(alice, 'shared-isolated', 3);
    const response = await fetch(`${service.url}/circuits/shared-isolated`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ALICE_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'forced_open' }),
    });
    expect(response.status).toBe(200);
    try {
      const { page, errors } = await openPage(browser);
      await signIn(page, service.url, ALICE_KEY);
      await page.getByRole('link', { name: 'Circuits' }).click();
      const row = page.locator('tr[data-action-id="shared-isolated"]');
      await row.locator('.badge-forced_open').waitFor({ timeout: 15_000 });
      expect(await row.locator('.badge').textContent()).toBe('forced open');
      await screenshot(page, 'console-circuits');
      expect(cspRefusals(errors)).toEqual([]);
      await page.context().close();
    } finally {
      await fetch(`${service.url}/circuits/shared-isolated`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ALICE_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ state: 'auto' }),
      });
    }
  }, 60_000);

  it("does not show one caller's batches to another", async () => {
    const alicesBatch = await submit(alice, 'shared-owned', 5);
    const bobsBatch = await submit(bob, 'shared-owned', 5);
    await alice.waitForEnd(alicesBatch);

    const { page } = await openPage(browser);
    await signIn(page, service.url, BOB_KEY);
    await page.locator(`tr[data-batch-id="${bobsBatch}"]`).waitFor();
    expect(await page.locator(`tr[data-batch-id="${alicesBatch}"]`).count()).toBe(0);
    expect(await page.locator(`tr[data-batch-id="${bobsBatch}"] td`).nth(2).textContent()).toBe(
      'bob',
    );

    const refused = await bob.get(`/batch/${alicesBatch}/status?limit=1`);
    expect(refused.status).toBe(404);
    await page.goto(`${service.url}/console#/batches/${alicesBatch}`);
    const problem = page.getByRole('alert');
    await problem.waitFor();
    expect(await problem.locator('.problem-title').textContent()).toBe(refused.body.title);
    await screenshot(page, 'console-other-callers-batch');
    await page.context().close();

    const list = await runCli(['list', '--json'], { url: service.url, apiKey: BOB_KEY });
    const ids = (JSON.parse(list.stdout) as { batches: { batch_id: string }[] }).batches.map(
      (batch) => batch.batch_id,
    );
    expect(ids).toContain(bobsBatch);
    expect(ids).not.toContain(alicesBatch);
    const status = await runCli(['status', alicesBatch], { url: service.url, apiKey: BOB_KEY });
    expect(status.code).toBe(1);
    expect(status.stderr).toContain(`${refused.body.title} (404)`);
  }, 60_000);
});

describe('cxo redrive', () => {
  it('runs the failed items again and waits for them (exit 0 once all succeed)', async () => {
    sim.setProfile('shared-cli-redrive', { latency_ms: 5, error_rate: 0.3, error_status: 400 });
    const batchId = await submit(alice, 'shared-cli-redrive', 200);
    const first = await alice.waitForEnd(batchId);
    expect(first.summary.failed).toBeGreaterThan(0);
    sim.setProfile('shared-cli-redrive', { latency_ms: 5 });

    const nothing = await runCli(['redrive', batchId, '--statuses', 'degraded'], {
      url: service.url,
      apiKey: ALICE_KEY,
    });
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toMatch(/^cxo: .*\(409\)/m);

    const run = await runCli(['redrive', batchId, '--wait'], {
      url: service.url,
      apiKey: ALICE_KEY,
    });
    expect(run.stdout).toContain(
      `${batchId} queued again (redrive 1): ${first.summary.failed} items to run`,
    );
    expect(run.stderr).toContain(`${batchId} completed: 200 items, 200 success, 0 failed`);
    expect(run.code).toBe(0);
  }, 60_000);
});
