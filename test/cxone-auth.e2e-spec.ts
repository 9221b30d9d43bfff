import type { LoggerService } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { randomBytes } from 'node:crypto';
import { TokenManagerOptions } from '../src/auth/token-manager.options.js';
import { TokenManager } from '../src/auth/token-manager.service.js';
import { ConfigModule } from '../src/config/config.module.js';
import { loadConfig } from '../src/config/load-config.js';
import { CxoneCallError } from '../src/cxone/cxone-call.error.js';
import { CxoneClient } from '../src/cxone/cxone.client.js';
import { CxoneModule } from '../src/cxone/cxone.module.js';
import type { ExecuteOptions } from '../src/cxone/cxone.types.js';
import { type SimulatorHandle, startSimulator } from '../src/simulator/simulator.server.js';

/** Every log line of the suite, to prove no secret or token is ever logged. */
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
const WRONG_SECRET = 'wrong-secret-0f9e8d7c';
const SECRETS = ['sim-secret', 'sim-access-secret', WRONG_SECRET];
const TOKEN_PATTERN = /sim_[A-Za-z0-9_-]{16,}/;
const TRACE_ID = randomBytes(16).toString('hex');

let sim: SimulatorHandle;
const modules: TestingModule[] = [];
const errorMessages: string[] = [];

async function build(
  env: Record<string, string> = {},
  tokenOptions: Partial<TokenManagerOptions> = {},
): Promise<{ client: CxoneClient; tokens: TokenManager }> {
  const config = loadConfig({
    CXONE_API_URL: sim.url,
    CXONE_SIMULATOR: 'true',
    AUTH_DISABLED: 'true',
    ...env,
  });
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
  return { client: moduleRef.get(CxoneClient), tokens: moduleRef.get(TokenManager) };
}

let counter = 0;
function options(): ExecuteOptions {
  return {
    traceContext: { traceId: TRACE_ID },
    requestId: `auth-${++counter}`,
    timeoutMs: 2_000,
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

async function until(condition: () => boolean, timeoutMs = 1_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

beforeAll(async () => {
  sim = await startSimulator({ port: 0, seed: 1 });
});

beforeEach(() => {
  sim.reset();
  sim.setTokenBehaviour({});
});

afterEach(async () => {
  await Promise.all(modules.splice(0).map((m) => m.close()));
});

afterAll(async () => {
  await sim.close();
});

describe('TokenManager', () => {
  it('makes one token request for 500 concurrent calls at start', async () => {
    const { client } = await build();
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => client.execute('auth.flood', { i }, options())),
    );
    expect(results).toHaveLength(500);
    expect(sim.stats().token_requests).toBe(1);
    expect(sim.stats().actions['auth.flood'].calls).toBe(500);
  });

  it('refreshes TOKEN_REFRESH_SKEW_SECONDS before expiry, in the background', async () => {
    let now = Date.now();
    sim.setTokenBehaviour({ lifetime_seconds: 60 });
    const { client, tokens } = await build(
      { TOKEN_REFRESH_SKEW_SECONDS: '10' },
      { now: () => now },
    );
    await client.execute('auth.refresh', {}, options());
    const first = tokens.peek();
    expect(sim.stats().token_requests).toBe(1);

    now += 49_000; // not yet in the skew window
    await client.execute('auth.refresh', {}, options());
    expect(sim.stats().token_requests).toBe(1);

    now += 2_000; // 51 s: inside the 10 s window, still valid
    expect(tokens.peek()).toBeUndefined();
    await expect(tokens.getToken()).resolves.toBe(first); // served at once, refresh under way
    await client.execute('auth.refresh', {}, options());
    await until(() => tokens.peek() !== undefined);
    expect(tokens.peek()).not.toBe(first);
    expect(sim.stats().token_requests).toBe(2);
  });

  it('waits for a new token once the old one has expired', async () => {
    let now = Date.now();
    const { client, tokens } = await build({}, { now: () => now });
    await client.execute('auth.expired', {}, options());
    const first = await tokens.getToken();
    now += 3_600_000;
    const second = await tokens.getToken();
    expect(second).not.toBe(first);
    expect(sim.stats().token_requests).toBe(2);
  });

  it.each([
    [
      'client_credentials in the form, default scope',
      {},
      {
        grant_type: 'client_credentials',
        scope: 'data-actions:execute data-actions:read',
        client_auth: 'body',
      },
    ],
    [
      'client_credentials as HTTP Basic, empty scope sends none',
      { CXONE_CLIENT_AUTH: 'basic', CXONE_SCOPE: '' },
      { grant_type: 'client_credentials', scope: null, client_auth: 'basic' },
    ],
    [
      'client_credentials with a custom scope',
      { CXONE_SCOPE: 'data-actions:execute' },
      { grant_type: 'client_credentials', scope: 'data-actions:execute', client_auth: 'body' },
    ],
    [
      'password grant, client in the form',
      { CXONE_GRANT_TYPE: 'password' },
      { grant_type: 'password', scope: null, client_auth: 'body' },
    ],
    [
      'password grant, client as HTTP Basic',
      { CXONE_GRANT_TYPE: 'password', CXONE_CLIENT_AUTH: 'basic' },
      { grant_type: 'password', scope: null, client_auth: 'basic' },
    ],
  ])('obtains a token with %s', async (_name, env, expected) => {
    const { client } = await build(env);
    await expect(client.execute('auth.grant', {}, options())).resolves.toMatchObject({
      attempts: 1,
    });
    expect(sim.stats().last_token_request).toEqual(expected);
  });

  it('discovers the endpoints through CXONE_ISSUER, once for all callers', async () => {
    const { client } = await build({
      CXONE_API_URL: '',
      CXONE_ISSUER: sim.url,
      CXONE_TENANT: 'sim',
    });
    await Promise.all(
      [1, 2, 3, 4, 5].map((i) => client.execute('auth.discovered', { i }, options())),
    );
    await client.execute('auth.discovered', {}, options());
    expect(sim.stats().discovery_requests).toBe(2); // openid-configuration + cxone-configuration
    expect(sim.stats().actions['auth.discovered'].calls).toBe(6);
  });

  it('fails with AUTH_FAILED when discovery fails, and tries again later', async () => {
    const { client } = await build({
      CXONE_API_URL: '',
      CXONE_ISSUER: sim.url,
      CXONE_TENANT: 'nosuchtenant',
    });
    const error = await failure(client.execute('auth.undiscovered', {}, options()));
    expect(error.code).toBe('AUTH_FAILED');
    expect(error.message).toContain('discovery failed');
    expect(error.attempts).toBe(0);
    await failure(client.execute('auth.undiscovered', {}, options()));
    expect(sim.stats().discovery_requests).toBe(4);
  });

  it('does not cache a failed token request: the next caller gets a token', async () => {
    sim.setTokenBehaviour({ fail_next: 1, fail_status: 503 });
    const { client } = await build();
    const error = await failure(client.execute('auth.retry', {}, options()));
    expect(error.code).toBe('AUTH_FAILED');
    expect(error.message).toBe('CXone token request failed: HTTP 503 (simulated)');
    expect(error.attempts).toBe(0);
    expect(sim.stats().actions['auth.retry']).toBeUndefined();

    await Promise.all([1, 2, 3].map(() => client.execute('auth.retry', {}, options())));
    expect(sim.stats().token_requests).toBe(2);
  });

  it('backs off between failed token requests so the endpoint is not hammered', async () => {
    sim.setTokenBehaviour({ fail_rate: 1 });
    const { client } = await build({}, { failureBackoffInitialMs: 100 });
    const started = Date.now();
    for (let i = 0; i < 3; i++) await failure(client.execute('auth.down', {}, options()));
    // 1st at once, 2nd after 100 ms, 3rd after 200 ms more.
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(sim.stats().token_requests).toBe(3);
  });

  it.each([
    ['access_token', 'CXone token response has no access_token'],
    ['expires_in', 'CXone token response has no valid expires_in'],
  ] as const)('rejects a token answer without %s', async (field, message) => {
    sim.setTokenBehaviour({ omit_fields: [field] });
    const { client } = await build();
    const error = await failure(client.execute('auth.incomplete', {}, options()));
    expect([error.code, error.message]).toEqual(['AUTH_FAILED', message]);
  });

  it('reports wrong credentials as AUTH_FAILED without the secret', async () => {
    const { client } = await build({ CXONE_CLIENT_SECRET: WRONG_SECRET });
    const error = await failure(client.execute('auth.wrong', {}, options()));
    expect(error.code).toBe('AUTH_FAILED');
    expect(error.message).toBe('CXone token request failed: HTTP 401 (invalid_client)');
  });
});

describe('CxoneClient and a refused token', () => {
  it('refreshes the token once on a 401 and retries the call', async () => {
    const { client } = await build();
    await client.execute('auth.revoked', {}, options());
    sim.reset(); // forgets every token it issued
    const result = await client.execute('auth.revoked', {}, options());
    expect(result.attempts).toBe(2);
    expect(sim.stats().token_requests).toBe(1);
    expect(sim.stats().actions['auth.revoked'].statuses).toEqual({ '401': 1, '200': 1 });
  });

  it('fails with AUTH_FAILED when CXone still answers 401 after the refresh, without hammering', async () => {
    sim.setProfile('auth.always401', { error_rate: 1, error_status: 401 });
    const { client } = await build();
    const error = await failure(client.execute('auth.always401', {}, options()));
    expect([error.code, error.upstreamStatus, error.attempts]).toEqual(['AUTH_FAILED', 401, 2]);
    expect(sim.stats().token_requests).toBe(2);

    // The fresh token was refused too: it is not dropped again right away.
    const again = await failure(client.execute('auth.always401', {}, options()));
    expect([again.code, again.attempts]).toEqual(['AUTH_FAILED', 1]);
    expect(sim.stats().token_requests).toBe(2);
  });

  it('fails with AUTH_FAILED on a 403, without a refresh', async () => {
    sim.setProfile('auth.forbidden', { error_rate: 1, error_status: 403 });
    const { client } = await build();
    const error = await failure(client.execute('auth.forbidden', {}, options()));
    expect([error.code, error.upstreamStatus, error.attempts]).toEqual(['AUTH_FAILED', 403, 1]);
    expect(sim.stats().token_requests).toBe(1);
  });
});

describe('secrets', () => {
  it('never appear in a log line or an error message of this suite', () => {
    // Guard against a vacuous pass: the suite did log and did fail calls.
    expect(logs.lines.length).toBeGreaterThan(3);
    expect(errorMessages.length).toBeGreaterThan(5);
    for (const text of [...logs.lines, ...errorMessages]) {
      for (const secret of SECRETS) expect(text).not.toContain(secret);
      expect(text).not.toMatch(TOKEN_PATTERN);
    }
  });
});
