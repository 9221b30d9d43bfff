import type { LoggerService } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { CxoneEndpoints } from '../src/auth/cxone-endpoints.service.js';
import { TokenManagerOptions } from '../src/auth/token-manager.options.js';
import { TokenManager } from '../src/auth/token-manager.service.js';
import { ConfigModule } from '../src/config/config.module.js';
import { loadConfig } from '../src/config/load-config.js';
import { CxoneCallError } from '../src/cxone/cxone-call.error.js';
import { CxoneClient } from '../src/cxone/cxone.client.js';
import { CxoneModule } from '../src/cxone/cxone.module.js';
import type { ExecuteOptions } from '../src/cxone/cxone.types.js';
import { type SimulatorHandle, startSimulator } from '../src/simulator/simulator.server.js';
import { payloads } from './helpers/api.js';
import { serviceApi, startService, type ServiceProcess } from './helpers/service-process.js';

// CXONE_GRANT_TYPE=access_key against the simulator's access-key endpoint, over real HTTP: the
// token manager and client in this process (a clock of the test's own), then `node dist/main.js`
// as a user runs it.

const ACCESS_KEY_ID = `AK-${randomBytes(4).toString('hex')}`;
const ACCESS_KEY_SECRET = `ak-secret-${randomBytes(8).toString('hex')}`;
const WRONG_SECRET = `wrong-ak-secret-${randomBytes(8).toString('hex')}`;
const SECRETS = [ACCESS_KEY_SECRET, WRONG_SECRET];
const TOKEN_PATTERN = /sim_[A-Za-z0-9_-]{16,}/;
const ACCESS_KEY_PATH = '/authentication/v1/token/access-key';

/** Every log line of the in-process tests, to prove no secret or token is logged. */
class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log = (message: unknown) => this.capture(message);
  error = (message: unknown, ...rest: unknown[]) => this.capture(message, ...rest);
  warn = (message: unknown) => this.capture(message);
  debug = (message: unknown) => this.capture(message);
  verbose = (message: unknown) => this.capture(message);
  fatal = (message: unknown) => this.capture(message);
  private capture(...parts: unknown[]): void {
    this.lines.push(parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' '));
  }
}

const logs = new CapturingLogger();
const errorMessages: string[] = [];
let sim: SimulatorHandle;
const modules: TestingModule[] = [];

/** The access-key environment of a real tenant, pointed at `target`'s endpoint. */
function accessKeyEnv(target: SimulatorHandle = sim): Record<string, string> {
  return {
    CXONE_SIMULATOR: 'false',
    CXONE_GRANT_TYPE: 'access_key',
    CXONE_TOKEN_URL: `${target.url}${ACCESS_KEY_PATH}`,
    CXONE_ACCESS_KEY_ID: ACCESS_KEY_ID,
    CXONE_ACCESS_KEY_SECRET: ACCESS_KEY_SECRET,
  };
}

async function build(
  env: Record<string, string> = {},
  tokenOptions: Partial<TokenManagerOptions> = {},
): Promise<{ client: CxoneClient; tokens: TokenManager; endpoints: CxoneEndpoints }> {
  const config = loadConfig({ AUTH_DISABLED: 'true', ...accessKeyEnv(), ...env });
  const moduleRef = await Test.createTestingModule({
    imports: [ConfigModule.forRoot(config), CxoneModule],
  })
    .setLogger(logs)
    .overrideProvider(TokenManagerOptions)
    .useValue(
      Object.assign(new TokenManagerOptions(), { failureBackoffInitialMs: 20, ...tokenOptions }),
    )
    .compile();
  await moduleRef.init();
  modules.push(moduleRef);
  return {
    client: moduleRef.get(CxoneClient),
    tokens: moduleRef.get(TokenManager),
    endpoints: moduleRef.get(CxoneEndpoints),
  };
}

let counter = 0;
function options(): ExecuteOptions {
  return {
    traceContext: { traceId: randomBytes(16).toString('hex') },
    requestId: `ak-${++counter}`,
    timeoutMs: 5_000,
    cacheTtlSeconds: 0,
  };
}

async function failure(promise: Promise<unknown>): Promise<CxoneCallError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CxoneCallError) {
      errorMessages.push(error.message);
      return error;
    }
    throw error;
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  sim = await startSimulator({ accessKeyId: ACCESS_KEY_ID, accessKeySecret: ACCESS_KEY_SECRET });
});
beforeEach(() => {
  sim.reset();
  sim.setTokenBehaviour({});
  for (const id of Object.keys(sim.profiles())) sim.deleteProfile(id);
});
afterEach(async () => {
  await Promise.all(modules.splice(0).map((m) => m.close()));
});
afterAll(async () => {
  await sim.close();
});

describe('access-key grant: token manager and client', () => {
  it('posts the access key as JSON and calls the API base the token answer names', async () => {
    const { client, endpoints } = await build();
    expect(endpoints.current()).toBeUndefined();
    await expect(client.execute('ak.first', { n: 1 }, options())).resolves.toMatchObject({
      data: { action_id: 'ak.first', data: { n: 1 } },
      attempts: 1,
    });
    expect(sim.stats()).toMatchObject({
      token_requests: 1,
      last_token_request: { grant_type: 'access_key', scope: null, client_auth: 'none' },
    });
    expect(sim.stats().actions['ak.first'].calls).toBe(1);
    expect(endpoints.current()).toEqual({
      apiUrl: sim.url,
      tokenUrl: `${sim.url}${ACCESS_KEY_PATH}`,
    });
  });

  it('makes one token request for 300 concurrent calls at start', async () => {
    sim.setTokenBehaviour({ latency_ms: 100 });
    const { client } = await build({ CXONE_MAX_CONCURRENCY: '300' });
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => client.execute('ak.flood', { i }, options())),
    );
    expect(results.every((result) => result.attempts === 1)).toBe(true);
    expect(sim.stats().token_requests).toBe(1);
    expect(sim.stats().actions['ak.flood'].calls).toBe(300);
  });

  it('gets a new token once the old one has expired', async () => {
    let now = Date.now();
    sim.setTokenBehaviour({ lifetime_seconds: 600 });
    const { client, tokens } = await build({}, { now: () => now });
    await client.execute('ak.expiry', {}, options());
    const first = await tokens.getToken();
    now += 600_000;
    expect(tokens.peek()).toBeUndefined();
    await client.execute('ak.expiry', {}, options());
    expect(await tokens.getToken()).not.toBe(first);
    expect(sim.stats().token_requests).toBe(2);
    expect(sim.stats().actions['ak.expiry'].statuses).toEqual({ '200': 2 });
  });

  it('gets a new token once when CXone refuses the current one (401), and retries the call', async () => {
    const { client } = await build();
    await client.execute('ak.revoked', {}, options());
    sim.reset(); // forgets every token it issued
    await expect(client.execute('ak.revoked', {}, options())).resolves.toMatchObject({
      attempts: 2,
    });
    expect(sim.stats().token_requests).toBe(1);
    expect(sim.stats().actions['ak.revoked'].statuses).toEqual({ '401': 1, '200': 1 });
  });

  it('does not cache a failed token request (same failure controls as the OAuth endpoint)', async () => {
    sim.setTokenBehaviour({ fail_next: 1, fail_status: 503 });
    const { client } = await build();
    const error = await failure(client.execute('ak.retry', {}, options()));
    expect([error.code, error.message, error.attempts]).toEqual([
      'AUTH_FAILED',
      'CXone token request failed: HTTP 503 (simulated)',
      0,
    ]);
    await client.execute('ak.retry', {}, options());
    expect(sim.stats().token_requests).toBe(2);
  });

  it('fails AUTH_FAILED when the answer names no API base and CXONE_API_URL is not set, and asks again later', async () => {
    sim.setTokenBehaviour({ omit_fields: ['resource_server_base_uri'] });
    const { client, endpoints } = await build();
    const error = await failure(client.execute('ak.nobase', {}, options()));
    expect([error.code, error.message]).toEqual([
      'AUTH_FAILED',
      'CXone token response has no valid resource_server_base_uri (set CXONE_API_URL)',
    ]);
    expect(endpoints.current()).toBeUndefined();
    sim.setTokenBehaviour({});
    await client.execute('ak.nobase', {}, options());
    expect(sim.stats().token_requests).toBe(2);
    expect(sim.stats().actions['ak.nobase'].calls).toBe(1);
  });

  it('calls CXONE_API_URL when it is set, whatever the answer names', async () => {
    const custom = await startSimulator({
      accessKeyId: ACCESS_KEY_ID,
      accessKeySecret: ACCESS_KEY_SECRET,
      executePath: '/custom/api/v2/data-actions/{actionId}/execute',
    });
    try {
      // resource_server_base_uri names the simulator's root, where this path is not served.
      const { client } = await build({
        ...accessKeyEnv(custom),
        CXONE_API_URL: `${custom.url}/custom`,
      });
      await expect(client.execute('ak.custom', {}, options())).resolves.toMatchObject({
        attempts: 1,
      });
      expect(custom.stats().actions['ak.custom'].statuses).toEqual({ '200': 1 });
    } finally {
      await custom.close();
    }
  });

  it('reports a refused access key as AUTH_FAILED without the secret', async () => {
    const { client } = await build({ CXONE_ACCESS_KEY_SECRET: WRONG_SECRET });
    const error = await failure(client.execute('ak.wrong', {}, options()));
    expect([error.code, error.message]).toEqual([
      'AUTH_FAILED',
      'CXone token request failed: HTTP 401 (invalid_client)',
    ]);
  });

  it('never puts a secret or a token in a log line or an error message', () => {
    expect(logs.lines.length).toBeGreaterThan(3);
    expect(errorMessages.length).toBeGreaterThanOrEqual(3);
    for (const text of [...logs.lines, ...errorMessages]) {
      for (const secret of SECRETS) expect(text).not.toContain(secret);
      expect(text).not.toMatch(TOKEN_PATTERN);
    }
  });
});

describe('access-key grant: node dist/main.js', () => {
  let service: ServiceProcess | undefined;
  afterEach(async () => {
    await service?.kill();
    service = undefined;
  });

  it('runs a batch with no CXONE_API_URL, its 300 concurrent items making one token request', async () => {
    sim.setTokenBehaviour({ latency_ms: 200 });
    sim.setProfile('ak.batch', { latency_ms: 200 });
    service = await startService({
      ...accessKeyEnv(),
      CXONE_MAX_CONCURRENCY: '300',
      MAX_WORKERS_PER_BATCH: '300',
    });
    const api = serviceApi(service.url);
    const accepted = await api.post('/batch/execute', {
      action_id: 'ak.batch',
      payloads: payloads(300),
      chunk_size: 300,
      max_workers: 300,
      cache_ttl_seconds: 0,
    });
    expect(accepted.status).toBe(202);
    const done = await api.waitForEnd(accepted.body.batch_id, 60_000);
    expect(done.summary).toMatchObject({ total: 300, successful: 300 });
    expect(sim.stats().token_requests).toBe(1);
    expect(sim.stats().last_token_request).toMatchObject({ grant_type: 'access_key' });
    expect(sim.stats().actions['ak.batch'].calls).toBe(300);
    // The calls did run side by side, all on the one token.
    expect(sim.stats().actions['ak.batch'].peak_in_flight).toBeGreaterThan(50);
  });

  it('ends every item AUTH_FAILED when the access key is refused, with no secret in any log line or answer', async () => {
    service = await startService({
      ...accessKeyEnv(),
      CXONE_ACCESS_KEY_SECRET: WRONG_SECRET,
      LOG_LEVEL: 'debug',
    });
    const api = serviceApi(service.url);
    const accepted = await api.post('/batch/execute', {
      action_id: 'ak.refused',
      payloads: payloads(5),
      cache_ttl_seconds: 0,
    });
    expect(accepted.status).toBe(202);
    const done = await api.waitForEnd(accepted.body.batch_id, 30_000);
    expect(done.summary).toMatchObject({ total: 5, failed: 5 });
    expect(done.items.map((item: { error_code: string }) => item.error_code)).toEqual(
      new Array(5).fill('AUTH_FAILED'),
    );
    expect(sim.stats().actions['ak.refused']).toBeUndefined();

    const listed = await api.get('/batch?limit=5');
    const output = service.output();
    // Guard against a vacuous pass: the service did log the refusal.
    expect(output).toContain('CXone token request failed: HTTP 401 (invalid_client)');
    for (const text of [output, JSON.stringify(done), JSON.stringify(listed.body)]) {
      for (const secret of SECRETS) expect(text).not.toContain(secret);
      expect(text).not.toMatch(TOKEN_PATTERN);
    }
  });
});

/** Runs `node dist/main.js` expecting it to refuse to start: its exit code and everything it wrote. */
function failedStart(
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['dist/main.js'], {
      env: { PATH: process.env.PATH ?? '', AUTH_DISABLED: 'true', PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the service did not refuse to start:\n${output}`));
    }, 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('access-key grant: configuration errors', () => {
  const env = (): Record<string, string> => ({
    CXONE_GRANT_TYPE: 'access_key',
    CXONE_AREA: 'na1',
    CXONE_ACCESS_KEY_ID: ACCESS_KEY_ID,
    CXONE_ACCESS_KEY_SECRET: ACCESS_KEY_SECRET,
  });
  const without = (...names: string[]): Record<string, string> => {
    const values = env();
    for (const name of names) delete values[name];
    return values;
  };

  it.each([
    [
      'no access key id',
      () => without('CXONE_ACCESS_KEY_ID'),
      'CXONE_ACCESS_KEY_ID is required when CXONE_GRANT_TYPE=access_key',
    ],
    [
      'no access key secret',
      () => without('CXONE_ACCESS_KEY_SECRET'),
      'CXONE_ACCESS_KEY_SECRET is required when CXONE_GRANT_TYPE=access_key',
    ],
    [
      'neither CXONE_AREA nor CXONE_TOKEN_URL',
      () => without('CXONE_AREA'),
      'CXONE_AREA is required when CXONE_GRANT_TYPE=access_key and CXONE_TOKEN_URL is not set',
    ],
    [
      'an unknown area',
      () => ({ ...env(), CXONE_AREA: 'us9' }),
      'CXONE_AREA must be one of na1, au1, eu1 (got "us9")',
    ],
    [
      'issuer discovery with access keys',
      () => ({ ...env(), CXONE_ISSUER: 'https://cxone.niceincontact.com' }),
      'CXONE_ISSUER is not used with CXONE_GRANT_TYPE=access_key',
    ],
  ])('stops the start with one line naming the variable: %s', async (_case, envOf, problem) => {
    const { code, output } = await failedStart(envOf());
    expect(code).toBe(1);
    const lines = output.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^Invalid configuration: ${escapeRegExp(problem)}`));
    expect(output).not.toContain(ACCESS_KEY_SECRET);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
