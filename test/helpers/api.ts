import { setTimeout as sleep } from 'node:timers/promises';
import { TEST_API_KEY } from './test-app.js';

export interface Api {
  post(
    path: string,
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  get(
    path: string,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  patch(
    path: string,
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  put(
    path: string,
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  waitForEnd(batchId: string, timeoutMs?: number): Promise<any>;
}

/**
 * A small JSON client for the orchestrator's API: with the test API key by default (or the `key`
 * of another caller), without one for a service process started with AUTH_DISABLED=true.
 * `pollMs`: how often waitForEnd polls (a caller's requests count against CALLER_RATE_LIMIT).
 */
export function apiFor(
  baseUrl: string,
  {
    auth = true,
    key = TEST_API_KEY,
    pollMs = 20,
  }: { auth?: boolean; key?: string; pollMs?: number } = {},
): Api {
  const authHeader = { authorization: `Bearer ${key}` };
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        ...(auth ? authHeader : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: text ? JSON.parse(text) : undefined,
      headers: response.headers,
    };
  };
  const api: Api = {
    post: (path, body, headers) => call('POST', path, body, headers),
    get: (path, headers) => call('GET', path, undefined, headers),
    patch: (path, body, headers) => call('PATCH', path, body, headers),
    put: (path, body, headers) => call('PUT', path, body, headers),
    /** Polls until the batch is finished; a non-200 answer (a 503 while Redis is away) is polled through. */
    async waitForEnd(batchId, timeoutMs = 20000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { status, body } = await api.get(`/batch/${batchId}/status?limit=1000`);
        if (status === 200 && body.finished_at !== null && body.summary.pending === 0) return body;
        if (Date.now() > deadline) {
          throw new Error(
            `batch ${batchId} did not end in ${timeoutMs} ms: ${status} ${JSON.stringify(body?.summary ?? body)}`,
          );
        }
        await sleep(pollMs);
      }
    },
  };
  return api;
}

export function payloads(count: number, offset = 0): { id: string; n: number }[] {
  return Array.from({ length: count }, (_, i) => ({ id: `item-${offset + i}`, n: offset + i }));
}

/**
 * Submits `count` distinct, uncached items of `action`, waits for the batch's end and checks that
 * every item succeeded; returns the 202 body.
 */
export async function runToSuccess(api: Api, action: string, count: number): Promise<any> {
  const accepted = await api.post('/batch/execute', {
    action_id: action,
    payloads: payloads(count),
    cache_ttl_seconds: 0,
  });
  expect(accepted.status).toBe(202);
  const done = await api.waitForEnd(accepted.body.batch_id);
  expect(done.summary).toMatchObject({ total: count, successful: count });
  return accepted.body;
}
