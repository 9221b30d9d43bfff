import { spawnSync } from 'node:child_process';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { ReadinessService } from '../src/health/readiness.service.js';
import { authHeader, startTestApp } from './helpers/test-app.js';

describe('the application shell', () => {
  let app: NestExpressApplication;
  let url: string;

  beforeAll(async () => {
    ({ app, url } = await startTestApp());
  });
  afterAll(async () => {
    await app.close();
  });

  it('answers an unknown route with a 404 problem (401 without a key: routes are not revealed)', async () => {
    expect((await fetch(`${url}/no/such/route`)).status).toBe(401);
    const response = await fetch(`${url}/no/such/route`, { headers: authHeader });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    const body = await response.json();
    expect(body).toEqual({
      type: expect.stringContaining('not-found'),
      title: 'Not Found',
      status: 404,
      detail: expect.any(String),
      instance: '/no/such/route',
      code: 'NOT_FOUND',
    });
  });

  it('answers malformed JSON with a 400 problem and no stack trace', async () => {
    const response = await fetch(`${url}/batch/execute`, {
      method: 'POST',
      headers: { ...authHeader, 'content-type': 'application/json' },
      body: '{"action_id": ',
    });
    expect(response.status).toBe(400);
    const body = await response.json();
    expect(body.status).toBe(400);
    expect(body.detail).toMatch(/not valid JSON|JSON/);
    expect(JSON.stringify(body)).not.toMatch(/at .*\.js:\d+/);
  });

  it('names the body when it is valid JSON but not an object', async () => {
    for (const text of ['null', '1', '"x"', 'true', '[]']) {
      const response = await fetch(`${url}/batch/execute`, {
        method: 'POST',
        headers: { ...authHeader, 'content-type': 'application/json' },
        body: text,
      });
      expect(response.status).toBe(400);
      expect((await response.json()).errors).toEqual([
        { field: 'body', message: 'must be a JSON object' },
      ]);
    }
  });

  it('answers a non-JSON body with 415', async () => {
    const response = await fetch(`${url}/batch/execute`, {
      method: 'POST',
      headers: { ...authHeader, 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(response.status).toBe(415);
    expect((await response.json()).code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('is live and ready without an API key', async () => {
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
    const ready = await fetch(`${url}/health/ready`);
    expect(ready.status).toBe(200);
    expect((await ready.json()).status).toBe('ok');
  });

  it('reports not ready, with the reason, when a check fails', async () => {
    const readiness = app.get(ReadinessService);
    readiness.register('probe-under-test', () => Promise.reject(new Error('store unreachable')));
    const response = await fetch(`${url}/health/ready`);
    expect(response.status).toBe(503);
    const body = await response.json();
    expect(body.detail).toContain('probe-under-test: store unreachable');
    readiness.register('probe-under-test', () => Promise.resolve());
    expect((await fetch(`${url}/health/ready`)).status).toBe(200);
  });

  it('serves Swagger UI and the OpenAPI document', async () => {
    const ui = await fetch(`${url}/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger');
    const document = await (await fetch(`${url}/docs-json`)).json();
    expect(document.openapi).toMatch(/^3\./);
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(['/health/live', '/health/ready']),
    );
  });
});

describe('start-up with bad configuration', () => {
  it('stops with one line naming the variable', () => {
    const result = spawnSync(process.execPath, ['dist/main.js'], {
      env: {
        PATH: process.env.PATH,
        CXONE_TENANT: 'acme',
        CXONE_CLIENT_ID: 'id',
        CXONE_CLIENT_SECRET: 's3cr3t-value',
      },
      encoding: 'utf8',
      timeout: 15000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      'Invalid configuration: API_KEYS is required (comma-separated caller:key entries, or API_KEYS_FILE), unless AUTH_DISABLED=true',
    );
    expect(result.stderr).not.toContain('s3cr3t-value');
  });
});
