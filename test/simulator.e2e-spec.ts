import { request as httpRequest } from 'node:http';
import {
  SimulatorInputError,
  type SimulatorHandle,
  startSimulator,
} from '../src/simulator/simulator.server.js';

// Tokens, discovery, counters and the admin routes, all over real HTTP on 127.0.0.1.

const FORM = 'application/x-www-form-urlencoded';
const CLIENT = 'grant_type=client_credentials&client_id=sim-client&client_secret=sim-secret';

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

async function postToken(
  sim: SimulatorHandle,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${sim.url}/platform/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': FORM, ...headers },
    body,
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

async function issueToken(sim: SimulatorHandle): Promise<string> {
  const res = await postToken(sim, CLIENT);
  expect(res.status).toBe(200);
  return res.body.access_token as string;
}

function execute(
  sim: SimulatorHandle,
  actionId: string,
  token: string | null,
  options: { requestId?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...options.headers,
  };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (options.requestId !== undefined) headers['x-request-id'] = options.requestId;
  return fetch(`${sim.url}/api/v2/data-actions/${encodeURIComponent(actionId)}/execute`, {
    method: 'POST',
    headers,
    body: options.body ?? '{"n":1}',
  });
}

async function admin(
  sim: SimulatorHandle,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${sim.url}/__sim${path}`, { method, body });
  return { status: res.status, body: await res.json() };
}

describe('CXone simulator: tokens, discovery, counters, admin', () => {
  let sim: SimulatorHandle;

  beforeAll(async () => {
    sim = await startSimulator({ port: 0 });
  });
  afterAll(async () => {
    await sim.close();
  });
  beforeEach(async () => {
    sim.reset();
    sim.setTokenBehaviour({});
    for (const id of Object.keys(sim.profiles())) sim.deleteProfile(id);
  });

  describe('token endpoint', () => {
    it('issues a bearer token for client_credentials with the client in the body', async () => {
      const res = await postToken(
        sim,
        `${CLIENT}&scope=data-actions%3Aexecute+data-actions%3Aread`,
      );

      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        access_token: expect.stringMatching(/^sim_[A-Za-z0-9_-]{32}$/),
        token_type: 'bearer',
        expires_in: 3600,
        scope: 'data-actions:execute data-actions:read',
      });
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(sim.stats().last_token_request).toEqual({
        grant_type: 'client_credentials',
        scope: 'data-actions:execute data-actions:read',
        client_auth: 'body',
      });
      expect(sim.stats().token_requests).toBe(1);
    });

    it('accepts the client as HTTP Basic and sends no scope back when none was asked', async () => {
      const res = await postToken(sim, 'grant_type=client_credentials', {
        authorization: basic('sim-client', 'sim-secret'),
      });

      expect(res.status).toBe(200);
      expect(res.body).not.toHaveProperty('scope');
      expect(sim.stats().last_token_request).toEqual({
        grant_type: 'client_credentials',
        scope: null,
        client_auth: 'basic',
      });
    });

    it('issues a token for the password grant with the access key, with or without a client', async () => {
      const bare = await postToken(
        sim,
        'grant_type=password&username=sim-access-key&password=sim-access-secret',
      );
      const withClient = await postToken(
        sim,
        'grant_type=password&username=sim-access-key&password=sim-access-secret',
        { authorization: basic('sim-client', 'sim-secret') },
      );

      expect(bare.status).toBe(200);
      expect(withClient.status).toBe(200);
      expect(bare.body.access_token).not.toBe(withClient.body.access_token);
      expect(sim.stats().last_token_request).toEqual({
        grant_type: 'password',
        scope: null,
        client_auth: 'basic',
      });
      expect((await execute(sim, 'a', bare.body.access_token)).status).toBe(200);
    });

    it('refuses wrong credentials with 401 invalid_client and counts the failures', async () => {
      const wrongSecret = await postToken(
        sim,
        'grant_type=client_credentials&client_id=sim-client&client_secret=nope',
      );
      const wrongBasic = await postToken(sim, 'grant_type=client_credentials', {
        authorization: basic('sim-client', 'nope'),
      });
      const wrongKey = await postToken(
        sim,
        'grant_type=password&username=sim-access-key&password=nope',
      );
      const noClient = await postToken(sim, 'grant_type=client_credentials');

      for (const res of [wrongSecret, wrongBasic, wrongKey, noClient]) {
        expect(res.status).toBe(401);
        expect(res.body.error).toBe('invalid_client');
        expect(JSON.stringify(res.body)).not.toContain('sim-secret');
      }
      expect(wrongBasic.headers.get('www-authenticate')).toContain('Basic');
      expect(sim.stats()).toMatchObject({ token_requests: 4, token_failures: 4 });
    });

    it('answers 400 to an unsupported grant and to malformed requests', async () => {
      const unsupported = await postToken(sim, 'grant_type=authorization_code&code=x');
      const noGrant = await postToken(sim, 'client_id=sim-client&client_secret=sim-secret');
      const json = await fetch(`${sim.url}/platform/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'client_credentials' }),
      });
      const both = await postToken(sim, CLIENT, {
        authorization: basic('sim-client', 'sim-secret'),
      });

      expect(unsupported.status).toBe(400);
      expect(unsupported.body.error).toBe('unsupported_grant_type');
      expect(noGrant.status).toBe(400);
      expect(noGrant.body.error).toBe('invalid_request');
      expect(json.status).toBe(400);
      expect((await json.json()).error).toBe('invalid_request');
      expect(both.status).toBe(400);
      expect(both.body.error).toBe('invalid_request');
    });

    it('fails the next N token requests with the configured status (fail_next)', async () => {
      const put = await admin(sim, 'PUT', '/token', '{"fail_next":2,"fail_status":503}');
      expect(put.status).toBe(200);
      expect(put.body).toMatchObject({ fail_next: 2, fail_status: 503 });

      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await postToken(sim, CLIENT)).status);

      expect(statuses).toEqual([503, 503, 200]);
      expect(sim.stats()).toMatchObject({ token_requests: 3, token_failures: 2 });
      expect((await admin(sim, 'GET', '/token')).body.fail_next).toBe(0);
    });

    it('fails every token request with fail_rate 1', async () => {
      sim.setTokenBehaviour({ fail_rate: 1, fail_status: 502 });
      const res = await postToken(sim, CLIENT);
      expect(res.status).toBe(502);
      expect(res.body).toEqual({ error: 'simulated', message: 'simulated 502' });
    });

    it('omits the listed fields from a 200 answer (omit_fields)', async () => {
      sim.setTokenBehaviour({ omit_fields: ['expires_in'] });
      const noExpiry = await postToken(sim, CLIENT);
      sim.setTokenBehaviour({ omit_fields: ['access_token'] });
      const noToken = await postToken(sim, CLIENT);

      expect(noExpiry.status).toBe(200);
      expect(noExpiry.body).not.toHaveProperty('expires_in');
      expect(noExpiry.body.access_token).toEqual(expect.any(String));
      expect(noToken.status).toBe(200);
      expect(noToken.body).not.toHaveProperty('access_token');
      expect(noToken.body.expires_in).toBe(3600);
    });

    it('applies lifetime_seconds and latency_ms of the token behaviour', async () => {
      sim.setTokenBehaviour({ lifetime_seconds: 120, latency_ms: 150 });
      const started = performance.now();
      const res = await postToken(sim, CLIENT);
      expect(performance.now() - started).toBeGreaterThanOrEqual(140);
      expect(res.body.expires_in).toBe(120);
    });

    it('rejects an invalid token behaviour with 400 naming the field', async () => {
      const res = await admin(sim, 'PUT', '/token', '{"omit_fields":["scope"]}');
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: 'invalid_token_behaviour', field: 'omit_fields[0]' });
      expect(() => sim.setTokenBehaviour({ fail_rate: 2 })).toThrow(SimulatorInputError);
    });
  });

  describe('access-key token endpoint', () => {
    const postAccessKey = async (
      body: unknown,
      contentType = 'application/json',
    ): Promise<{ status: number; body: any }> => {
      const res = await fetch(`${sim.url}/authentication/v1/token/access-key`, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    };
    const KEY = { accessKeyId: 'sim-access-key', accessKeySecret: 'sim-access-secret' };

    it('issues a token for its access key, with resource_server_base_uri pointing at itself', async () => {
      const res = await postAccessKey(KEY);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        access_token: expect.stringMatching(/^sim_/),
        token_type: 'bearer',
        expires_in: 3600,
        resource_server_base_uri: `${sim.url}/`,
      });
      expect((await execute(sim, 'a', res.body.access_token)).status).toBe(200);
      expect(sim.stats()).toMatchObject({
        token_requests: 1,
        token_failures: 0,
        last_token_request: { grant_type: 'access_key', scope: null, client_auth: 'none' },
      });
    });

    it('refuses a wrong key with 401 and a malformed request with 400, never echoing the secret', async () => {
      const wrong = await postAccessKey({ ...KEY, accessKeySecret: 'not-the-secret' });
      const unknownId = await postAccessKey({ ...KEY, accessKeyId: 'someone-else' });
      const missing = await postAccessKey({ accessKeyId: 'sim-access-key' });
      const notJson = await postAccessKey('accessKeyId=sim-access-key');
      const form = await postAccessKey(JSON.stringify(KEY), 'application/x-www-form-urlencoded');

      for (const res of [wrong, unknownId]) {
        expect(res.status).toBe(401);
        expect(res.body.error).toBe('invalid_client');
      }
      for (const res of [missing, notJson, form]) {
        expect(res.status).toBe(400);
        expect(res.body.error).toBe('invalid_request');
      }
      for (const res of [wrong, unknownId, missing, notJson, form])
        expect(JSON.stringify(res.body)).not.toMatch(/sim-access-secret|not-the-secret/);
      expect(sim.stats()).toMatchObject({ token_requests: 5, token_failures: 5 });
    });

    it('takes its own credentials from the options', async () => {
      const own = await startSimulator({ accessKeyId: 'AK-1', accessKeySecret: 'own-secret-1' });
      try {
        const res = await fetch(`${own.url}/authentication/v1/token/access-key`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ accessKeyId: 'AK-1', accessKeySecret: 'own-secret-1' }),
        });
        expect(res.status).toBe(200);
        expect((await postAccessKey(KEY)).status).toBe(200); // the shared one keeps its defaults
      } finally {
        await own.close();
      }
    });

    it('shares the token behaviour of the OAuth endpoint: lifetime, failures, omitted fields, latency', async () => {
      sim.setTokenBehaviour({ fail_next: 1, fail_status: 503, lifetime_seconds: 120 });
      expect(await postAccessKey(KEY)).toEqual({
        status: 503,
        body: { error: 'simulated', message: 'simulated 503' },
      });
      expect((await postAccessKey(KEY)).body.expires_in).toBe(120);

      sim.setTokenBehaviour({ omit_fields: ['resource_server_base_uri', 'expires_in'] });
      const omitted = await postAccessKey(KEY);
      expect(omitted.body).not.toHaveProperty('resource_server_base_uri');
      expect(omitted.body).not.toHaveProperty('expires_in');
      expect(omitted.body.access_token).toEqual(expect.any(String));

      sim.setTokenBehaviour({ fail_rate: 1, fail_status: 502 });
      expect((await postAccessKey(KEY)).status).toBe(502);

      sim.setTokenBehaviour({ latency_ms: 150 });
      const started = performance.now();
      expect((await postAccessKey(KEY)).status).toBe(200);
      expect(performance.now() - started).toBeGreaterThanOrEqual(140);
      expect(sim.stats()).toMatchObject({ token_requests: 5, token_failures: 2 });
    });
  });

  describe('bearer check on execute', () => {
    it('answers 401 invalid_token to a missing, unknown or expired token', async () => {
      const missing = await execute(sim, 'a', null);
      const unknown = await execute(sim, 'a', 'sim_not-issued-here');
      sim.setTokenBehaviour({ lifetime_seconds: 0 });
      const expired = await execute(sim, 'a', await issueToken(sim));

      expect([missing.status, unknown.status, expired.status]).toEqual([401, 401, 401]);
      expect(missing.headers.get('www-authenticate')).toContain('invalid_token');
      expect(await unknown.json()).toEqual({ error: 'invalid_token', message: 'unknown token' });
      expect(await expired.json()).toEqual({ error: 'invalid_token', message: 'token expired' });
      expect(sim.stats().actions.a.statuses).toEqual({ '401': 3 });
    });

    it('forgets issued tokens on reset', async () => {
      const token = await issueToken(sim);
      expect((await execute(sim, 'a', token)).status).toBe(200);
      await admin(sim, 'POST', '/reset');
      expect((await execute(sim, 'a', token)).status).toBe(401);
    });
  });

  describe('discovery', () => {
    it('serves the OpenID configuration with the token endpoint', async () => {
      const res = await fetch(`${sim.url}/.well-known/openid-configuration`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        issuer: sim.url,
        token_endpoint: `${sim.url}/platform/oauth/token`,
      });
    });

    it('serves the CXone configuration of its tenant only', async () => {
      const known = await fetch(`${sim.url}/.well-known/cxone-configuration?tenantId=sim`);
      const unknown = await fetch(`${sim.url}/.well-known/cxone-configuration?tenantId=acme`);
      const missing = await fetch(`${sim.url}/.well-known/cxone-configuration`);

      expect(known.status).toBe(200);
      expect(await known.json()).toEqual({ api_endpoint: sim.url, tenantId: 'sim' });
      expect(unknown.status).toBe(404);
      expect(missing.status).toBe(400);
      expect(sim.stats().discovery_requests).toBe(3);
    });
  });

  describe('execute', () => {
    it('echoes the payload with the decoded action id and the request id', async () => {
      const token = await issueToken(sim);
      const res = await execute(sim, 'crm lookup:v2', token, {
        requestId: 'item-1',
        body: '{"id":7,"tags":["a","b"],"nested":{"x":null}}',
      });

      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(await res.json()).toEqual({
        action_id: 'crm lookup:v2',
        request_id: 'item-1',
        data: { id: 7, tags: ['a', 'b'], nested: { x: null } },
      });
      const noId = await execute(sim, 'a', token);
      expect((await noId.json()).request_id).toBeNull();
    });

    it('answers 400 to a body that is not JSON and 405 to another method', async () => {
      const token = await issueToken(sim);
      const bad = await execute(sim, 'a', token, { body: 'id=7' });
      const get = await fetch(`${sim.url}/api/v2/data-actions/a/execute`);

      expect(bad.status).toBe(400);
      expect((await bad.json()).error).toBe('invalid_request');
      expect(get.status).toBe(405);
      expect(get.headers.get('allow')).toBe('POST');
    });

    it('counts calls per action and attempts per X-Request-Id', async () => {
      const token = await issueToken(sim);
      await execute(sim, 'a', token, { requestId: 'r1' });
      await execute(sim, 'a', token, { requestId: 'r1' });
      await execute(sim, 'a', token, { requestId: 'r1' });
      await execute(sim, 'b', token, { requestId: 'r2' });
      await execute(sim, 'b', token);

      expect(sim.stats()).toMatchObject({
        calls: 5,
        in_flight: 0,
        request_ids: 2,
        max_attempts_per_request_id: 3,
        actions: {
          a: { calls: 3, in_flight: 0, statuses: { '200': 3 }, hangs: 0 },
          b: { calls: 2, statuses: { '200': 2 } },
        },
      });
      expect(sim.attempts('r1')).toBe(3);
      expect(sim.attempts('never')).toBe(0);
      expect((await admin(sim, 'GET', '/attempts/r1')).body).toEqual({
        request_id: 'r1',
        attempts: 3,
      });
      expect((await admin(sim, 'GET', '/attempts')).body).toEqual({ r1: 3, r2: 1 });
      expect((await admin(sim, 'GET', '/stats')).body).toEqual(sim.stats());
    });

    it('records the tracing headers of recent calls', async () => {
      const token = await issueToken(sim);
      const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      await execute(sim, 'a', token, {
        requestId: 'r1',
        headers: {
          traceparent,
          'x-trace-id': '0af7651916cd43dd8448eb211c80319c',
          'x-span-id': 'b7ad6b7169203331',
          accept: 'application/json',
        },
      });
      await execute(sim, 'b', token, { requestId: 'r2' });

      const all = await admin(sim, 'GET', '/calls');
      const last = await admin(sim, 'GET', '/calls?limit=1');

      expect(all.body.calls).toHaveLength(2);
      expect(all.body.calls[0]).toMatchObject({
        action_id: 'a',
        request_id: 'r1',
        attempt: 1,
        traceparent,
        x_trace_id: '0af7651916cd43dd8448eb211c80319c',
        x_span_id: 'b7ad6b7169203331',
        content_type: 'application/json',
        accept: 'application/json',
      });
      expect(last.body.calls).toEqual([
        expect.objectContaining({ action_id: 'b', traceparent: null }),
      ]);
      expect((await admin(sim, 'GET', '/calls?limit=x')).status).toBe(400);
    });

    it('keeps only the last recentCallsLimit calls', async () => {
      const small = await startSimulator({ port: 0, recentCallsLimit: 3 });
      try {
        const token = await issueToken(small);
        for (let i = 1; i <= 5; i++) await execute(small, 'a', token, { requestId: `r${i}` });
        expect(small.recentCalls().map((c) => c.request_id)).toEqual(['r3', 'r4', 'r5']);
      } finally {
        await small.close();
      }
    });

    it('counts attempts of the last maxRequestIds request ids, forgetting the oldest', async () => {
      const small = await startSimulator({ port: 0, maxRequestIds: 2 });
      try {
        const token = await issueToken(small);
        await execute(small, 'a', token, { requestId: 'r1' });
        await execute(small, 'a', token, { requestId: 'r1' });
        await execute(small, 'a', token, { requestId: 'r2' });
        await execute(small, 'a', token, { requestId: 'r3' });
        expect([small.attempts('r1'), small.attempts('r2'), small.attempts('r3')]).toEqual([
          0, 1, 1,
        ]);
        expect(small.stats()).toMatchObject({
          request_ids: 2,
          request_ids_forgotten: 1,
          max_attempts_per_request_id: 2,
        });
        // A forgotten id starts again at attempt 1.
        await execute(small, 'a', token, { requestId: 'r1' });
        expect(small.attempts('r1')).toBe(1);
        expect(small.recentCalls().at(-1)).toMatchObject({ request_id: 'r1', attempt: 1 });
      } finally {
        await small.close();
      }
    });
  });

  describe('admin routes', () => {
    it('sets, reads and deletes profiles', async () => {
      const put = await admin(sim, 'PUT', '/profiles/lookup', '{"latency_ms":20,"error_rate":0.1}');
      await admin(sim, 'PUT', `/profiles/${encodeURIComponent('*')}`, '{"hang_rate":0.5}');

      expect(put.status).toBe(200);
      expect(put.body.profile).toMatchObject({
        latency_ms: 20,
        error_rate: 0.1,
        error_status: 500,
      });
      const all = await admin(sim, 'GET', '/profiles');
      expect(Object.keys(all.body).sort()).toEqual(['*', 'lookup']);
      expect((await admin(sim, 'GET', '/profiles/other')).body).toMatchObject({
        source: 'default',
        profile: { hang_rate: 0.5 },
      });

      const del = await admin(sim, 'DELETE', '/profiles/lookup');
      expect(del.body).toEqual({ action_id: 'lookup', deleted: true });
      expect((await admin(sim, 'GET', '/profiles/lookup')).body.source).toBe('default');
    });

    it('refuses a malformed profile with 400 naming the field and keeps the old one', async () => {
      sim.setProfile('lookup', { latency_ms: 5 });

      const unknown = await admin(sim, 'PUT', '/profiles/lookup', '{"latency":5}');
      const range = await admin(sim, 'PUT', '/profiles/lookup', '{"error_rate":1.5}');
      const nested = await admin(
        sim,
        'PUT',
        '/profiles/lookup',
        '{"fail_first":{"attempts":1,"status":200}}',
      );
      const wrongType = await admin(sim, 'PUT', '/profiles/lookup', '{"latency_ms":"5"}');
      const notJson = await admin(sim, 'PUT', '/profiles/lookup', '{latency_ms');

      expect(unknown).toMatchObject({ status: 400, body: { field: 'latency' } });
      expect(range).toMatchObject({ status: 400, body: { field: 'error_rate' } });
      expect(nested).toMatchObject({ status: 400, body: { field: 'fail_first.status' } });
      expect(wrongType).toMatchObject({ status: 400, body: { field: 'latency_ms' } });
      expect(notJson.status).toBe(400);
      expect(range.body.message).toContain('between 0 and 1');
      expect(sim.profiles().lookup.latency_ms).toBe(5);
      expect(() => sim.setProfile('lookup', { jitter_ms: -1 })).toThrow(/jitter_ms/);
    });

    it('resets counters but keeps profiles', async () => {
      sim.setProfile('lookup', { error_rate: 1 });
      const token = await issueToken(sim);
      await execute(sim, 'lookup', token, { requestId: 'r1' });

      const res = await admin(sim, 'POST', '/reset');

      expect(res).toEqual({ status: 200, body: { reset: true } });
      expect(sim.stats()).toMatchObject({
        calls: 0,
        token_requests: 0,
        actions: {},
        request_ids: 0,
      });
      expect(sim.attempts('r1')).toBe(0);
      expect(sim.profiles().lookup.error_rate).toBe(1);
    });

    it('answers 404 JSON to an unknown route and 405 to a wrong method', async () => {
      const unknown = await fetch(`${sim.url}/__sim/nothing`);
      const outside = await fetch(`${sim.url}/api/v1/whatever`);
      const wrongMethod = await fetch(`${sim.url}/__sim/stats`, { method: 'DELETE' });

      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toMatchObject({ error: 'not_found' });
      expect(outside.status).toBe(404);
      expect(wrongMethod.status).toBe(405);
    });
  });

  describe('lifecycle', () => {
    it('close() ends even while a call hangs, and the client sees its socket close', async () => {
      const other = await startSimulator({ port: 0, profiles: { '*': { hang_rate: 1 } } });
      const token = await issueToken(other);
      const outcome = new Promise<string>((resolve) => {
        const req = httpRequest(`${other.url}/api/v2/data-actions/a/execute`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        });
        req.on('response', () => resolve('answered'));
        req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
        req.end('{}');
      });
      await waitFor(() => other.stats().actions.a?.hangs === 1);

      await other.close();

      expect(await outcome).toBe('ECONNRESET');
    });

    it('refuses invalid options at start, naming them', async () => {
      await expect(startSimulator({ port: 0, profiles: { a: { error_rate: 3 } } })).rejects.toThrow(
        'profiles["a"].error_rate must be a number between 0 and 1 (got 3)',
      );
      await expect(startSimulator({ port: 70_000 })).rejects.toThrow(/^port /);
    });
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
