import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, loadConfig } from './load-config.js';

const base = {
  CXONE_TENANT: 'acme',
  CXONE_CLIENT_ID: 'client-id',
  CXONE_CLIENT_SECRET: 'client-secret-value',
  API_KEYS: 'key-one, key-two',
};

function problemOf(env: Record<string, string | undefined>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected loadConfig to fail');
}

describe('loadConfig', () => {
  it('picks the store: sqlite in ./data by default, redis with REDIS_URL, or as STORE says', () => {
    const embedded = loadConfig(base);
    expect(embedded.store).toBe('sqlite');
    expect(embedded.dataDir).toBe(resolve('data'));
    expect(loadConfig({ ...base, DATA_DIR: 'var/orchestrator' }).dataDir).toBe(
      resolve('var/orchestrator'),
    );
    expect(loadConfig({ ...base, REDIS_URL: 'redis://127.0.0.1:6379' }).store).toBe('redis');
    expect(loadConfig({ ...base, STORE: 'memory' }).store).toBe('memory');
    expect(
      loadConfig({ ...base, REDIS_URL: 'redis://127.0.0.1:6379', STORE: 'sqlite' }).store,
    ).toBe('sqlite');
    expect(problemOf({ ...base, STORE: 'postgres' })).toMatch(
      /^Invalid configuration: STORE must be one of the following values: memory, sqlite, redis \(got "postgres"\)$/,
    );
    expect(problemOf({ ...base, STORE: 'redis' })).toBe(
      'Invalid configuration: STORE is redis but REDIS_URL is not set',
    );
  });

  it('bounds results and the cache in bytes', () => {
    const config = loadConfig(base);
    expect(config.batch.maxResultBytes).toBe(1048576);
    expect(config.cache.maxBytes).toBe(16 * 1024 * 1024);
    expect(loadConfig({ ...base, MAX_RESULT_BYTES: '4096' }).batch.maxResultBytes).toBe(4096);
    expect(problemOf({ ...base, MAX_RESULT_BYTES: '10' })).toMatch(
      /^Invalid configuration: MAX_RESULT_BYTES/,
    );
    expect(problemOf({ ...base, CACHE_MAX_BYTES: 'lots' })).toMatch(
      /^Invalid configuration: CACHE_MAX_BYTES must be an integer/,
    );
  });

  it('takes defaults under the environment and overrides over it', () => {
    const config = loadConfig(
      { ...base, DATA_DIR: '/srv/mine', PORT: '4000' },
      { PORT: '5000' },
      { DATA_DIR: '/srv/default', STORE: 'memory' },
    );
    expect(config).toMatchObject({ dataDir: '/srv/mine', port: 5000, store: 'memory' });
  });

  it('applies the contract defaults and URL templates', () => {
    const config = loadConfig(base);
    expect(config.port).toBe(3000);
    expect(config.host).toBeUndefined();
    expect(config.cxone.apiUrl).toBe('https://acme.api.nicecxone.com');
    expect(config.cxone.tokenUrl).toBe('https://acme.api.nicecxone.com/platform/oauth/token');
    expect(config.cxone.executePath).toBe('/api/v2/data-actions/{actionId}/execute');
    expect(config.cxone.scope).toBe('data-actions:execute data-actions:read');
    expect(config.cxone.grantType).toBe('client_credentials');
    expect(config.cxone.clientAuth).toBe('body');
    expect(config.cxone.maxConcurrency).toBe(100);
    expect(config.cxone.maxRetries).toBe(3);
    expect(config.cxone.maxRetryAfterSeconds).toBe(60);
    expect(config.cxone.tokenRefreshSkewSeconds).toBe(60);
    expect(config.circuit).toEqual({
      failureThreshold: 5,
      recoverySeconds: 30,
      minTimeoutMs: 5000,
    });
    expect(config.cache.staleTtlSeconds).toBe(86400);
    expect(config.batch).toMatchObject({
      maxItems: 100000,
      maxWorkersPerBatch: 256,
      retentionSeconds: 86400,
    });
    expect(config.batch.maxBodyBytes).toBe(50 * 1024 * 1024);
    expect(config.auth.keys.map((entry) => entry.caller)).toEqual(['default', 'default']);
    expect(JSON.stringify(config)).not.toContain('key-one');
    expect(config.auth.admins).toEqual([]);
    expect(config.callers).toEqual({ rateLimitPerSecond: 100, maxQueuedItems: 1_000_000 });
    expect(config.docsEnabled).toBe(true);
    expect(config.metrics.port).toBeUndefined();
    expect(config.redis).toEqual({
      url: undefined,
      keyPrefix: 'cxo:',
      queueLockSeconds: 10,
      queueConcurrency: 50,
      commandTimeoutMs: 10000,
    });
    expect(config.tenant).toEqual({
      maxConcurrency: undefined,
      rateLimitPerSecond: undefined,
      adaptiveConcurrency: true,
    });
    expect(config.logLevel).toBe('info');
    expect(config.metrics.enabled).toBe(true);
    expect(config.console.enabled).toBe(true);
    expect(config.otel).toEqual({
      sdkDisabled: false,
      serviceName: 'cxone-orchestrator',
      exporterEndpoint: undefined,
      tracesEndpoint: undefined,
      protocol: 'http/protobuf',
      sampler: 'parentbased_always_on',
      samplerRatio: 1,
      headerValues: [],
      batch: {
        scheduledDelayMillis: 5000,
        exportTimeoutMillis: 30000,
        maxQueueSize: 2048,
        maxExportBatchSize: 128,
      },
    });
  });

  it('resolves {CXONE_TENANT} and {CXONE_API_URL} in explicit URLs', () => {
    const config = loadConfig({
      ...base,
      CXONE_API_URL: 'https://{CXONE_TENANT}.example.test/',
      CXONE_TOKEN_URL: '{CXONE_API_URL}/auth/token',
    });
    expect(config.cxone.apiUrl).toBe('https://acme.example.test');
    expect(config.cxone.tokenUrl).toBe('https://acme.example.test/auth/token');
  });

  it('sends no scope when CXONE_SCOPE is set but empty', () => {
    expect(loadConfig({ ...base, CXONE_SCOPE: '' }).cxone.scope).toBe('');
  });

  it('leaves the URLs to discovery when only CXONE_ISSUER is set', () => {
    const { CXONE_TENANT: _tenant, ...withoutTenant } = base;
    const config = loadConfig({
      ...withoutTenant,
      CXONE_ISSUER: 'https://cxone.niceincontact.com',
    });
    expect(config.cxone.issuer).toBe('https://cxone.niceincontact.com');
    expect(config.cxone.apiUrl).toBeUndefined();
    expect(config.cxone.tokenUrl).toBeUndefined();
  });

  it('needs no credentials with CXONE_SIMULATOR=true', () => {
    const config = loadConfig({
      CXONE_SIMULATOR: 'true',
      CXONE_API_URL: 'http://127.0.0.1:4010',
      AUTH_DISABLED: 'true',
    });
    expect(config.cxone.clientId).toBe('sim-client');
    expect(config.auth.disabled).toBe(true);
  });

  it.each([
    ['CXONE_CLIENT_ID', {}],
    ['CXONE_CLIENT_SECRET', {}],
    ['API_KEYS', {}],
    ['CXONE_TENANT', {}],
    ['CXONE_ACCESS_KEY_ID', { CXONE_GRANT_TYPE: 'password', CXONE_ACCESS_KEY_SECRET: 's' }],
    ['CXONE_ACCESS_KEY_SECRET', { CXONE_GRANT_TYPE: 'password', CXONE_ACCESS_KEY_ID: 'k' }],
  ])('names %s when it is missing', (variable, extra) => {
    const env: Record<string, string | undefined> = { ...base, ...extra };
    delete env[variable];
    const message = problemOf(env);
    expect(message).toMatch(new RegExp(`^Invalid configuration: ${variable} is required`));
    expect(message).not.toContain('\n');
  });

  it.each([
    ['PORT', 'abc', 'must be an integer'],
    ['PORT', '70000', 'must not be greater than 65535'],
    ['CXONE_MAX_CONCURRENCY', 'abc', 'must be an integer'],
    ['CXONE_MAX_CONCURRENCY', '0', 'must not be less than 1'],
    ['CXONE_MAX_RETRIES', '-1', 'must not be less than 0'],
    ['MAX_RETRY_AFTER_SECONDS', '1.5', 'must be an integer'],
    ['TOKEN_REFRESH_SKEW_SECONDS', 'soon', 'must be an integer'],
    ['CIRCUIT_FAILURE_THRESHOLD', '0', 'must not be less than 1'],
    ['CIRCUIT_RECOVERY_SECONDS', 'x', 'must be an integer'],
    ['STALE_TTL_SECONDS', 'x', 'must be an integer'],
    ['MAX_BATCH_ITEMS', '0', 'must not be less than 1'],
    ['MAX_WORKERS_PER_BATCH', 'many', 'must be an integer'],
    ['MAX_BODY_BYTES', '10', 'must not be less than 1024'],
    ['BATCH_RETENTION_SECONDS', '0', 'must not be less than 1'],
    ['CXONE_GRANT_TYPE', 'implicit', 'must be one of'],
    ['CXONE_CLIENT_AUTH', 'header', 'must be one of'],
    ['CXONE_EXECUTE_PATH', '/no-placeholder', 'must start with / and contain {actionId}'],
    ['CXONE_ISSUER', 'not a url', 'must be a URL'],
    ['CXONE_API_URL', 'ftp://x', 'must be an http(s) URL'],
    ['CXONE_TENANT', 'bad tenant!', 'must be a tenant name'],
    ['REDIS_URL', 'http://localhost', 'must be a URL'],
    ['QUEUE_LOCK_SECONDS', '0', 'must not be less than 1'],
    ['QUEUE_CONCURRENCY', 'lots', 'must be an integer'],
    ['HOST', 'bad host!', 'must be a host name or an IP address'],
    ['REDIS_COMMAND_TIMEOUT_MS', '50', 'must not be less than 100'],
    ['AUTH_DISABLED', 'maybe', 'must be a boolean'],
    ['CXONE_SIMULATOR', 'perhaps', 'must be a boolean'],
    ['LOG_LEVEL', 'loud', 'must be one of'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector', 'must be a URL'],
    ['OTEL_SDK_DISABLED', 'sometimes', 'must be a boolean'],
    ['OTEL_TRACES_SAMPLER', 'random', 'must be one of'],
    ['OTEL_TRACES_SAMPLER_ARG', '1.5', 'must not be greater than 1'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'http/xml', 'must be one of'],
    ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'grpc-web', 'must be one of'],
    ['OTEL_EXPORTER_OTLP_HEADERS', 'just-a-key', 'must be key=value pairs'],
    ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE', '0', 'must not be less than 1'],
    ['OTEL_BSP_MAX_QUEUE_SIZE', 'big', 'must be an integer'],
    ['OTEL_BSP_SCHEDULE_DELAY', '1.5', 'must be an integer'],
    ['OTEL_BSP_EXPORT_TIMEOUT', '-1', 'must not be less than 1'],
    ['METRICS_ENABLED', 'perhaps', 'must be a boolean'],
    ['CONSOLE_ENABLED', 'perhaps', 'must be a boolean'],
    ['CALLBACK_SECRET', 'short', 'must be at least 16 characters'],
    ['CXONE_TENANT_MAX_CONCURRENCY', '0', 'must not be less than 1'],
    ['CXONE_TENANT_MAX_CONCURRENCY', '2.5', 'must be an integer'],
    ['CXONE_TENANT_MAX_CONCURRENCY', 'twenty', 'must be an integer'],
    ['CXONE_RATE_LIMIT_PER_SECOND', '0', 'must not be less than 0.01'],
    ['CXONE_RATE_LIMIT_PER_SECOND', 'fast', 'must be a number'],
    ['ADAPTIVE_CONCURRENCY', 'sometimes', 'must be a boolean'],
    ['ADMIN_CALLERS', 'ops,Not A Caller', 'must be caller names'],
  ])('names %s=%s as malformed', (variable, value, problem) => {
    const message = problemOf({ ...base, [variable]: value });
    expect(message).toContain(`Invalid configuration: ${variable} `);
    expect(message).toContain(problem);
    expect(message).not.toContain('\n');
  });

  it('reads the callback settings: per-caller secrets, attempts, timeout, first retry delay', () => {
    const key = Buffer.from('a-key-of-20-bytes!!!').toString('base64');
    const config = loadConfig({
      ...base,
      CALLBACK_SECRETS: `acme:acme-secret-0123456, globex:whsec_${key}`,
      CALLBACK_MAX_ATTEMPTS: '3',
      CALLBACK_TIMEOUT_MS: '2500',
      CALLBACK_RETRY_DELAY_MS: '50',
    });
    expect([...config.callback.secrets]).toEqual([
      ['acme', 'acme-secret-0123456'],
      ['globex', `whsec_${key}`],
    ]);
    expect(config.callback).toMatchObject({ maxAttempts: 3, timeoutMs: 2500, retryDelayMs: 50 });
    expect(loadConfig(base).callback).toMatchObject({
      maxAttempts: 8,
      timeoutMs: 10_000,
      retryDelayMs: 5000,
      secrets: new Map(),
    });
  });

  it.each([
    ['CALLBACK_SECRETS', 'no-colon-secret-0123456', 'entry 1 must be caller:secret'],
    ['CALLBACK_SECRETS', 'Acme:acme-secret-0123456', 'entry 1 must be caller:secret'],
    [
      'CALLBACK_SECRETS',
      'acme:acme-secret-0123456,globex:short-one',
      'entry 2: the secret must be at least 16',
    ],
    [
      'CALLBACK_SECRETS',
      'acme:acme-secret-0123456,acme:acme-secret-6543210',
      'entry 2 repeats the caller acme',
    ],
    [
      'CALLBACK_SECRETS',
      'acme:whsec_not*base64*at-all',
      'entry 1: the secret must be base64 after whsec_',
    ],
    [
      'CALLBACK_SECRET',
      `whsec_${Buffer.from('too-short').toString('base64')}`,
      'at least 16 bytes',
    ],
    ['CALLBACK_MAX_ATTEMPTS', '0', 'must not be less than 1'],
    ['CALLBACK_TIMEOUT_MS', 'soon', 'must be an integer'],
    ['CALLBACK_RETRY_DELAY_MS', '5', 'must not be less than 10'],
  ])('refuses %s=%s without echoing a secret', (variable, value, problem) => {
    const message = problemOf({ ...base, [variable]: value });
    expect(message).toContain(`Invalid configuration: ${variable} `);
    expect(message).toContain(problem);
    if (variable.includes('SECRET')) {
      for (const part of value.split(/[,:]/).filter((p) => p.length > 5))
        expect(message).not.toContain(part);
    }
  });

  it('reads ADMIN_CALLERS as a list of caller names (none by default)', () => {
    expect(loadConfig(base).auth.admins).toEqual([]);
    expect(loadConfig({ ...base, ADMIN_CALLERS: ' ops, team-a.admin ' }).auth.admins).toEqual([
      'ops',
      'team-a.admin',
    ]);
  });

  it('never echoes a secret value in the message', () => {
    const message = problemOf({ ...base, CALLBACK_SECRET: 'tiny-secret' });
    expect(message).not.toContain('tiny-secret');
    const headers = problemOf({ ...base, OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'collector-key-123' });
    expect(headers).not.toContain('collector-key-123');
  });

  it('reads the OTLP protocol, the traces-specific variable first', () => {
    expect(loadConfig({ ...base, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).otel.protocol).toBe('grpc');
    const both = loadConfig({
      ...base,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    });
    expect(both.otel.protocol).toBe('http/json');
  });

  it('reads the tenant protection settings', () => {
    const config = loadConfig({
      ...base,
      CXONE_TENANT_MAX_CONCURRENCY: '20',
      CXONE_RATE_LIMIT_PER_SECOND: '2.5',
      ADAPTIVE_CONCURRENCY: 'false',
    });
    expect(config.tenant).toEqual({
      maxConcurrency: 20,
      rateLimitPerSecond: 2.5,
      adaptiveConcurrency: false,
    });
  });

  it('reads the batch span processor settings (OTEL_BSP_*)', () => {
    const config = loadConfig({
      ...base,
      OTEL_BSP_SCHEDULE_DELAY: '1000',
      OTEL_BSP_EXPORT_TIMEOUT: '5000',
      OTEL_BSP_MAX_QUEUE_SIZE: '64',
    });
    expect(config.otel.batch).toEqual({
      scheduledDelayMillis: 1000,
      exportTimeoutMillis: 5000,
      maxQueueSize: 64,
      maxExportBatchSize: 64,
    });
    expect(
      loadConfig({ ...base, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '512' }).otel.batch.maxExportBatchSize,
    ).toBe(512);
    expect(problemOf({ ...base, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '4096' })).toContain(
      'OTEL_BSP_MAX_EXPORT_BATCH_SIZE must not be greater than OTEL_BSP_MAX_QUEUE_SIZE (2048)',
    );
  });

  it('keeps the OTLP header values (percent-decoded) as secrets for the logs', () => {
    const config = loadConfig({
      ...base,
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=abc%2Fdef123, x-team = blue-team',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'authorization=Basic%20dXNlcjpwYXNz',
    });
    expect(config.otel.headerValues).toEqual(['abc/def123', 'blue-team', 'Basic dXNlcjpwYXNz']);
    expect(loadConfig(base).otel.headerValues).toEqual([]);
  });

  it('reads the outbound proxy, the lower-case spelling first, and keeps its password secret', () => {
    expect(loadConfig(base).proxy).toBeUndefined();
    expect(loadConfig({ ...base, NO_PROXY: 'localhost' }).proxy).toBeUndefined();
    const config = loadConfig({
      ...base,
      HTTPS_PROXY: 'http://upper:upper-pass-1@proxy.corp:3128',
      https_proxy: 'http://lower:lower%2Fpass-2@proxy.corp:3128',
      HTTP_PROXY: 'http://proxy.corp:3128',
      NO_PROXY: 'localhost,.svc.cluster.local',
    });
    expect(config.proxy).toEqual({
      HTTP_PROXY: 'http://proxy.corp:3128',
      HTTPS_PROXY: 'http://lower:lower%2Fpass-2@proxy.corp:3128',
      NO_PROXY: 'localhost,.svc.cluster.local',
    });
    const message = problemOf({ ...base, HTTP_PROXY: 'proxy.corp:3128 pass-word-9' });
    expect(message).toContain('HTTP_PROXY must be a URL');
    expect(message).not.toContain('pass-word-9');
  });

  describe('callers and their keys', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'cxo-keys-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const keysFile = (text: string): string => {
      const path = join(dir, 'keys');
      writeFileSync(path, text);
      return path;
    };

    it('reads callers from API_KEYS and API_KEYS_FILE, keeping digests only', () => {
      const hashed = createHash('sha256').update('gamma-key-0123456789').digest('hex');
      const path = keysFile(
        `# team keys\n\nbeta:beta-key-0123456789\n  gamma:sha256:${hashed.toUpperCase()}\n`,
      );
      const config = loadConfig({
        ...base,
        API_KEYS: 'alpha:alpha-key-0123456789, bare-key-0123456789',
        API_KEYS_FILE: path,
        ADMIN_CALLERS: 'alpha, ops',
      });
      expect(config.auth.keys.map(({ caller, short }) => [caller, short])).toEqual([
        ['alpha', false],
        ['default', false],
      ]);
      expect(config.auth.keysFile?.path).toBe(path);
      expect(config.auth.keysFile?.entries).toEqual([
        {
          caller: 'beta',
          digest: createHash('sha256').update('beta-key-0123456789').digest('hex'),
          short: false,
        },
        { caller: 'gamma', digest: hashed, short: false },
      ]);
      expect(config.auth.admins).toEqual(['alpha', 'ops']);
      expect(JSON.stringify(config)).not.toMatch(/alpha-key|beta-key|bare-key/);
    });

    it('flags keys shorter than 16 characters and accepts one caller with two keys', () => {
      const config = loadConfig({ ...base, API_KEYS: 'alpha:short, alpha:long-enough-key-0001' });
      expect(config.auth.keys.map(({ caller, short }) => [caller, short])).toEqual([
        ['alpha', true],
        ['alpha', false],
      ]);
    });

    it('accepts a key file alone, without API_KEYS', () => {
      const env: Record<string, string> = {
        ...base,
        API_KEYS_FILE: keysFile('ops:ops-key-0123456789\n'),
      };
      delete env.API_KEYS;
      expect(loadConfig(env).auth.keysFile?.entries).toHaveLength(1);
    });

    it('stops the start on a bad entry, naming where and never the key', () => {
      const message = problemOf({
        ...base,
        API_KEYS: 'ok-key-0123456789, Bad Caller:secret-value-1',
      });
      expect(message).toMatch(
        /^Invalid configuration: API_KEYS entry 2: the caller name must match/,
      );
      expect(message).not.toContain('secret-value-1');
      const path = keysFile('alpha:alpha-key-0123456789\n# ok\nbeta:sha256:abc123-secret\n');
      const fileMessage = problemOf({ ...base, API_KEYS_FILE: path });
      expect(fileMessage).toBe(
        `Invalid configuration: API_KEYS_FILE ${path} line 3: sha256: must be followed by 64 hexadecimal digits`,
      );
      expect(problemOf({ ...base, API_KEYS: 'alpha:' })).toContain('caller "alpha" has no key');
    });

    it('refuses one key given to two callers', () => {
      const message = problemOf({
        ...base,
        API_KEYS: 'alpha:shared-key-0123456789,beta:shared-key-0123456789',
      });
      expect(message).toContain('the same key is given to callers "alpha" and "beta"');
      expect(message).not.toContain('shared-key');
    });

    it('names a key file that cannot be read', () => {
      expect(problemOf({ ...base, API_KEYS_FILE: join(dir, 'missing') })).toBe(
        `Invalid configuration: API_KEYS_FILE cannot be read: ${join(dir, 'missing')} (ENOENT)`,
      );
    });

    it('refuses to start with no key at all, unless AUTH_DISABLED=true', () => {
      const env: Record<string, string> = { ...base, API_KEYS_FILE: keysFile('# nobody yet\n') };
      delete env.API_KEYS;
      expect(problemOf(env)).toMatch(/^Invalid configuration: API_KEYS is required/);
      expect(loadConfig({ ...env, AUTH_DISABLED: 'true' }).auth.disabled).toBe(true);
    });

    it('checks ADMIN_CALLERS, the per-caller limits, METRICS_PORT and DOCS_ENABLED', () => {
      expect(problemOf({ ...base, ADMIN_CALLERS: 'ops,Root' })).toContain(
        'ADMIN_CALLERS must be caller names',
      );
      const config = loadConfig({
        ...base,
        CALLER_RATE_LIMIT: '7',
        CALLER_MAX_QUEUED_ITEMS: '500',
        CIRCUIT_MIN_TIMEOUT_MS: '0',
        METRICS_PORT: '9464',
        DOCS_ENABLED: 'false',
      });
      expect(config.callers).toEqual({ rateLimitPerSecond: 7, maxQueuedItems: 500 });
      expect(config.circuit.minTimeoutMs).toBe(0);
      expect(config.metrics.port).toBe(9464);
      expect(config.docsEnabled).toBe(false);
      expect(problemOf({ ...base, CALLER_RATE_LIMIT: '0' })).toContain('CALLER_RATE_LIMIT');
      expect(problemOf({ ...base, PORT: '9464', METRICS_PORT: '9464' })).toContain(
        'METRICS_PORT must differ from PORT',
      );
    });
  });
});

describe('loadConfig with CXONE_GRANT_TYPE=access_key', () => {
  const accessKey = {
    CXONE_GRANT_TYPE: 'access_key',
    CXONE_ACCESS_KEY_ID: 'AK-ID-1',
    CXONE_ACCESS_KEY_SECRET: 'access-key-secret-value',
    API_KEYS: 'key-one',
  };

  it('takes the token URL from CXONE_AREA and the API base from the token answer, with no OAuth client', () => {
    const { cxone } = loadConfig({ ...accessKey, CXONE_AREA: 'EU1' });
    expect(cxone).toMatchObject({
      grantType: 'access_key',
      area: 'eu1',
      tokenUrl: 'https://eu1.nice-incontact.com/authentication/v1/token/access-key',
      apiUrl: undefined,
      apiUrlFromToken: true,
      accessKeyId: 'AK-ID-1',
      accessKeySecret: 'access-key-secret-value',
      clientId: '',
      clientSecret: '',
    });
  });

  it.each(['na1', 'au1', 'eu1'])('knows the area %s', (area) => {
    expect(loadConfig({ ...accessKey, CXONE_AREA: area }).cxone.tokenUrl).toBe(
      `https://${area}.nice-incontact.com/authentication/v1/token/access-key`,
    );
  });

  it('lets CXONE_TOKEN_URL replace the area default and CXONE_API_URL the token answer', () => {
    const { cxone } = loadConfig({
      ...accessKey,
      CXONE_AREA: 'na1',
      CXONE_TOKEN_URL: 'http://127.0.0.1:4010/authentication/v1/token/access-key',
      CXONE_API_URL: 'http://127.0.0.1:4010/',
    });
    expect(cxone).toMatchObject({
      tokenUrl: 'http://127.0.0.1:4010/authentication/v1/token/access-key',
      apiUrl: 'http://127.0.0.1:4010',
      apiUrlFromToken: false,
    });
  });

  it('does not tie the other grants to the token answer', () => {
    expect(loadConfig(base).cxone.apiUrlFromToken).toBe(false);
    expect(
      loadConfig({
        ...base,
        CXONE_GRANT_TYPE: 'password',
        CXONE_ACCESS_KEY_ID: 'k',
        CXONE_ACCESS_KEY_SECRET: 's',
      }).cxone.apiUrlFromToken,
    ).toBe(false);
  });

  it.each([
    [
      'CXONE_ACCESS_KEY_ID',
      { CXONE_AREA: 'na1', CXONE_ACCESS_KEY_ID: undefined },
      'is required when CXONE_GRANT_TYPE=access_key',
    ],
    [
      'CXONE_ACCESS_KEY_SECRET',
      { CXONE_AREA: 'na1', CXONE_ACCESS_KEY_SECRET: '' },
      'is required when CXONE_GRANT_TYPE=access_key',
    ],
    [
      'CXONE_AREA',
      {},
      'is required when CXONE_GRANT_TYPE=access_key and CXONE_TOKEN_URL is not set (one of na1, au1, eu1)',
    ],
    ['CXONE_AREA', { CXONE_AREA: 'us2' }, 'must be one of na1, au1, eu1 (got "us2")'],
    [
      'CXONE_ISSUER',
      { CXONE_AREA: 'na1', CXONE_ISSUER: 'https://cxone.niceincontact.com' },
      'is not used with CXONE_GRANT_TYPE=access_key',
    ],
    [
      'CXONE_TOKEN_URL',
      { CXONE_TOKEN_URL: '{CXONE_API_URL}/token' },
      'uses {CXONE_API_URL} but CXONE_API_URL is not set',
    ],
  ])('names %s: %j', (variable, extra, problem) => {
    const message = problemOf({ ...accessKey, ...extra });
    expect(message).toContain(`Invalid configuration: ${variable} ${problem}`);
    expect(message).not.toContain('\n');
    expect(message).not.toContain('access-key-secret-value');
  });

  it('names the access key of the password grant with that grant', () => {
    expect(problemOf({ ...base, CXONE_GRANT_TYPE: 'password', CXONE_ACCESS_KEY_ID: 'k' })).toBe(
      'Invalid configuration: CXONE_ACCESS_KEY_SECRET is required when CXONE_GRANT_TYPE=password',
    );
  });
});
