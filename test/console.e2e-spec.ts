import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Browser } from 'playwright-core';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { apiFor, payloads, type Api } from './helpers/api.js';
import { launchBrowser, openPage, screenshot, signIn } from './helpers/browser.js';
import { startService, waitFor, type ServiceProcess } from './helpers/service-process.js';
import { TEST_API_KEY, authHeader, startTestApp } from './helpers/test-app.js';

// The web console (GET /console) and the headers every answer carries: the files and headers
// over HTTP, then the console in a real browser (headless chromium) against a service process.

describe('the console files and the security headers', () => {
  let app: NestExpressApplication;
  let url: string;

  beforeAll(async () => {
    ({ app, url } = await startTestApp());
  });
  afterAll(async () => {
    await app.close();
  });

  it("serves the console page at /console and /console/ without a key, with only the page's own scripts", async () => {
    for (const path of ['/console', '/console/']) {
      const response = await fetch(`${url}${path}`, { redirect: 'manual' });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/html');
      const page = await response.text();
      const scripts = [...page.matchAll(/<script\b[^>]*>/g)].map((match) => match[0]);
      expect(scripts).toEqual(['<script type="module" src="/console/console.js">']);
      expect(page).not.toMatch(/\son[a-z]+=/i);
    }
    const module = await fetch(`${url}/console/console.js`);
    expect(module.headers.get('content-type')).toContain('javascript');
    expect(await module.text()).toContain("from '/console/vendor/preact-htm.js'");
    const vendor = await fetch(`${url}/console/vendor/preact-htm.js`);
    expect(vendor.status).toBe(200);
    expect(vendor.headers.get('content-type')).toContain('text/javascript');
    expect(await vendor.text()).toMatch(/export\s*\{[^}]*\bhtml\b/);
  });

  it("answers with helmet's default headers, its CSP allowing only the page's own scripts", async () => {
    for (const path of ['/health/live', '/console', '/no/such/route', '/docs']) {
      const response = await fetch(`${url}${path}`);
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("script-src-attr 'none'");
      expect(csp).toContain("default-src 'self'");
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(response.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      expect(response.headers.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(response.headers.get('x-powered-by')).toBeNull();
    }
  });

  it('marks every /batch answer, refusals included, Cache-Control: no-store', async () => {
    const answers = [
      await fetch(`${url}/batch`, { headers: authHeader }),
      await fetch(`${url}/batch`),
      await fetch(`${url}/batch/00000000-0000-4000-8000-000000000000/status`, {
        headers: authHeader,
      }),
      await fetch(`${url}/batch/execute`, {
        method: 'POST',
        headers: { ...authHeader, 'content-type': 'application/json' },
        body: '{}',
      }),
    ];
    expect(answers.map((response) => response.status)).toEqual([200, 401, 404, 400]);
    for (const response of answers) expect(response.headers.get('cache-control')).toBe('no-store');
    const health = await fetch(`${url}/health/live`);
    expect(health.headers.get('cache-control')).not.toBe('no-store');
  });

  it('answers 404 for the console with CONSOLE_ENABLED=false', async () => {
    const disabled = await startTestApp({ CONSOLE_ENABLED: 'false' });
    try {
      for (const path of ['/console', '/console/console.js', '/console/vendor/preact-htm.js']) {
        const response = await fetch(`${disabled.url}${path}`);
        expect(response.status).toBe(404);
        expect(response.headers.get('content-type')).toContain('application/problem+json');
      }
    } finally {
      await disabled.app.close();
    }
  });
});

describe('the console in a browser', () => {
  let sim: SimulatorHandle;
  let service: ServiceProcess;
  let api: Api;
  let browser: Browser;

  const submit = async (action: string, count: number, maxWorkers: number) => {
    const accepted = await api.post('/batch/execute', {
      action_id: action,
      payloads: payloads(count),
      max_workers: maxWorkers,
      cache_ttl_seconds: 0,
    });
    expect(accepted.status).toBe(202);
    return accepted.body.batch_id as string;
  };

  const cspRefusals = (errors: string[]) =>
    errors.filter((error) => /Content Security Policy|Refused to/i.test(error));

  beforeAll(async () => {
    sim = await startSimulator({
      port: 0,
      profiles: {
        '*': { latency_ms: 5 },
        'console-paced': { latency_ms: 150 },
        'console-flaky': { latency_ms: 5, error_rate: 0.3, error_status: 400 },
        'console-slow': { latency_ms: 2000 },
      },
    });
    service = await startService({
      CXONE_API_URL: sim.url,
      API_KEYS: TEST_API_KEY,
      AUTH_DISABLED: 'false',
    });
    api = apiFor(service.url);
    browser = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await service?.kill();
    await sim?.close();
  });

  it('shows the problem of a wrong key, then opens with the right one', async () => {
    const { page, errors } = await openPage(browser);
    const refused = await apiFor(service.url, { auth: false }).get('/batch?limit=1', {
      authorization: 'Bearer wrong-key-0000',
    });
    await page.goto(`${service.url}/console`);
    await screenshot(page, 'console-key');
    await page.getByLabel('API key').fill('wrong-key-0000');
    await page.getByRole('button', { name: 'Open the console' }).click();
    const problem = page.getByRole('alert');
    await problem.waitFor();
    expect(await problem.locator('.problem-title').textContent()).toBe(refused.body.title);
    expect(await problem.locator('.problem-detail').textContent()).toBe(refused.body.detail);

    await page.getByLabel('API key').fill(TEST_API_KEY);
    await page.getByRole('button', { name: 'Open the console' }).click();
    await page.getByRole('heading', { name: 'Batches' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('cxo.apiKey'))).toBe(TEST_API_KEY);
    expect(cspRefusals(errors)).toEqual([]);
    await page.context().close();
  }, 60_000);

  it("moves a running batch's bar in the list until it reaches 100 %", async () => {
    const { page, errors } = await openPage(browser);
    await signIn(page, service.url, TEST_API_KEY);
    const batchId = await submit('console-paced', 160, 4);
    const bar = page.locator(`tr[data-batch-id="${batchId}"] [role=progressbar]`);
    await bar.waitFor({ timeout: 15_000 });

    const seen: number[] = [];
    let screenshotTaken = false;
    await waitFor(
      async () => {
        const value = Number(await bar.getAttribute('aria-valuenow'));
        if (seen[seen.length - 1] !== value) seen.push(value);
        if (!screenshotTaken && value > 20 && value < 90) {
          screenshotTaken = true;
          await screenshot(page, 'console-batches-running');
        }
        return value === 100;
      },
      60_000,
      'the bar at 100 %',
    );
    expect(seen.filter((value) => value > 0 && value < 100).length).toBeGreaterThanOrEqual(2);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    const row = page.locator(`tr[data-batch-id="${batchId}"]`);
    await row.locator('.badge-completed').waitFor();
    expect(await row.locator('.percent').textContent()).toBe('100 %');
    await screenshot(page, 'console-batches');
    expect(cspRefusals(errors)).toEqual([]);
    await page.context().close();
  }, 90_000);

  it("filters a batch's items by status and pages through them", async () => {
    const batchId = await submit('console-flaky', 400, 16);
    const done = await api.waitForEnd(batchId, 30_000);
    const failed = done.summary.failed as number;
    expect(failed).toBeGreaterThan(50);

    const { page, errors } = await openPage(browser);
    await signIn(page, service.url, TEST_API_KEY);
    await page.goto(`${service.url}/console#/batches/${batchId}`);
    await page.locator('.range').filter({ hasText: 'of 400' }).waitFor();
    await page.getByLabel('Status').selectOption('failed');
    await page
      .locator('.range')
      .filter({ hasText: `1–50 of ${failed}` })
      .waitFor();
    const statuses = await page
      .locator('.items tbody tr')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-item-status')));
    expect(statuses).toEqual(Array(50).fill('failed'));
    expect(await page.locator('.items tbody tr .detail').first().textContent()).toContain(
      'UPSTREAM_4XX',
    );
    await screenshot(page, 'console-batch-failed-items');

    await page.getByRole('button', { name: 'Next' }).click();
    await page
      .locator('.range')
      .filter({ hasText: `51–${Math.min(100, failed)} of ${failed}` })
      .waitFor();
    const firstIndex = Number(await page.locator('.items tbody tr td').first().textContent());
    const { body } = await api.get(`/batch/${batchId}/status?offset=50&limit=1&status=failed`);
    expect(firstIndex).toBe(body.items[0].index);
    expect(cspRefusals(errors)).toEqual([]);
    await page.context().close();
  }, 90_000);

  it('cancels a running batch', async () => {
    const batchId = await submit('console-slow', 100, 1);
    const { page, errors } = await openPage(browser);
    await signIn(page, service.url, TEST_API_KEY);
    await page.goto(`${service.url}/console#/batches/${batchId}`);
    await page.locator('.batch-head .badge-running, .batch-head .badge-queued').waitFor();
    await page.getByRole('button', { name: 'Cancel batch' }).click();
    await page.getByRole('button', { name: 'Yes, cancel' }).click();
    await page.locator('.batch-head .badge-cancelled').waitFor({ timeout: 15_000 });
    expect(await page.getByRole('status').textContent()).toMatch(
      /^Cancelled: \d+ items will not run\.$/,
    );
    const { body } = await api.get(`/batch/${batchId}/status?limit=1`);
    expect(body.status).toBe('cancelled');
    expect(body.summary.cancelled).toBeGreaterThan(90);
    await screenshot(page, 'console-batch-cancelled');
    expect(await page.getByRole('button', { name: 'Cancel batch' }).isDisabled()).toBe(true);
    expect(cspRefusals(errors)).toEqual([]);
    await page.context().close();
  }, 60_000);

  it('leaves Swagger UI working under the same CSP', async () => {
    const { page, errors } = await openPage(browser);
    await page.goto(`${service.url}/docs`);
    await page
      .locator('.swagger-ui .info .title')
      .filter({ hasText: 'CXone Data Action Orchestrator' })
      .waitFor();
    expect(await page.locator('.opblock').count()).toBeGreaterThan(3);
    await screenshot(page, 'swagger-ui');
    expect(cspRefusals(errors)).toEqual([]);
    await page.context().close();
  }, 60_000);
});
