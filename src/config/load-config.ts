import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import {
  ApiKeyEntryError,
  CALLER_NAME,
  checkKeysDistinct,
  parseApiKeysFile,
  parseApiKeysVariable,
  type ApiKeyEntry,
} from './api-keys.js';
import { resolve } from 'node:path';
import { AppConfig } from './app-config.js';
import { CXONE_AREAS, EnvDto } from './env.schema.js';

/** Credentials the built-in simulator accepts; used only when CXONE_SIMULATOR=true. */
export const SIMULATOR_CREDENTIALS = {
  clientId: 'sim-client',
  clientSecret: 'sim-secret',
  accessKeyId: 'sim-access-key',
  accessKeySecret: 'sim-access-secret',
} as const;

const DEFAULT_SCOPE = 'data-actions:execute data-actions:read';
const DEFAULT_EXECUTE_PATH = '/api/v2/data-actions/{actionId}/execute';
const SECRET_VARIABLES = new Set([
  'CXONE_CLIENT_SECRET',
  'CXONE_ACCESS_KEY_SECRET',
  'API_KEYS',
  'CALLBACK_SECRET',
  'CALLBACK_SECRETS',
  'REDIS_URL',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
  // A proxy URL may carry a user and password.
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'http_proxy',
  'https_proxy',
]);

const TYPE_CHECKS = new Set(['isString', 'isInt', 'isNumber', 'isBoolean', 'isIn', 'isUrl']);

/** A configuration problem, worded as the one line printed before the process exits. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

function firstProblem(
  errors: ValidationError[],
  env: Record<string, string | undefined>,
): ConfigError {
  const error = errors[0];
  const constraints = Object.entries(error.constraints ?? {});
  // Type checks speak first: "must be an integer" says more than "must not be greater than".
  constraints.sort(([a], [b]) => Number(!TYPE_CHECKS.has(a)) - Number(!TYPE_CHECKS.has(b)));
  const message = constraints[0]?.[1] ?? 'is invalid';
  const problem = message.startsWith(error.property)
    ? message.slice(error.property.length + 1)
    : message;
  const raw = env[error.property];
  const shown = raw === undefined || SECRET_VARIABLES.has(error.property) ? '' : ` (got "${raw}")`;
  return new ConfigError(error.property, `${problem}${shown}`);
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

function resolveUrl(
  variable: string,
  template: string,
  values: Record<string, string | undefined>,
): string {
  const resolved = template.replace(/\{(CXONE_TENANT|CXONE_API_URL)\}/g, (_match, name: string) => {
    const value = values[name];
    if (!value) throw new ConfigError(variable, `uses {${name}} but ${name} is not set`);
    return value;
  });
  if (!isHttpUrl(resolved))
    throw new ConfigError(variable, `must be an http(s) URL (got "${resolved}")`);
  return resolved.replace(/\/+$/, '');
}

/** The values of OTLP exporter headers (`key=value,…`, values percent-encoded). */
function headerValues(...lists: (string | undefined)[]): string[] {
  return lists.flatMap((value) =>
    list(value).map((pair) => {
      const raw = pair.slice(pair.indexOf('=') + 1).trim();
      try {
        return decodeURIComponent(raw);
      } catch {
        return raw;
      }
    }),
  );
}

/** Node's built-in proxy support (`http.Agent`'s `proxyEnv`) since Node 24.5 for agents, 24.14 globally. */
const NODE_HAS_PROXY_SUPPORT =
  typeof (http as { setGlobalProxyFromEnv?: unknown }).setGlobalProxyFromEnv === 'function';

/**
 * The batch span processor's settings. The export batch defaults to 128 spans, not the
 * specification's 512: an export serialises its batch in one go on the event loop (one span per
 * CXone call), and a batch of 512 takes long enough to show in the status-poll p99 of a saturated
 * service (bench scenario c, see bench/README.md).
 */
function spanBatchSettings(dto: EnvDto): AppConfig['otel']['batch'] {
  const maxQueueSize = dto.OTEL_BSP_MAX_QUEUE_SIZE ?? 2048;
  const maxExportBatchSize = dto.OTEL_BSP_MAX_EXPORT_BATCH_SIZE ?? Math.min(128, maxQueueSize);
  if (maxExportBatchSize > maxQueueSize) {
    throw new ConfigError(
      'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
      `must not be greater than OTEL_BSP_MAX_QUEUE_SIZE (${maxQueueSize})`,
    );
  }
  return {
    scheduledDelayMillis: dto.OTEL_BSP_SCHEDULE_DELAY ?? 5000,
    exportTimeoutMillis: dto.OTEL_BSP_EXPORT_TIMEOUT ?? 30_000,
    maxQueueSize,
    maxExportBatchSize,
  };
}

/** The outbound proxy settings, the lower-case spelling first (as Node reads them); undefined without a proxy. */
function proxySettings(dto: EnvDto): AppConfig['proxy'] {
  const httpProxy = dto.http_proxy ?? dto.HTTP_PROXY;
  const httpsProxy = dto.https_proxy ?? dto.HTTPS_PROXY;
  if (httpProxy === undefined && httpsProxy === undefined) return undefined;
  const variable = httpsProxy !== undefined ? 'HTTPS_PROXY' : 'HTTP_PROXY';
  if (!NODE_HAS_PROXY_SUPPORT) {
    throw new ConfigError(variable, `needs Node.js 24.14 or later (running ${process.version})`);
  }
  const noProxy = dto.no_proxy ?? dto.NO_PROXY;
  return {
    ...(httpProxy !== undefined ? { HTTP_PROXY: httpProxy } : {}),
    ...(httpsProxy !== undefined ? { HTTPS_PROXY: httpsProxy } : {}),
    ...(noProxy !== undefined ? { NO_PROXY: noProxy } : {}),
  };
}

const MIN_SECRET_LENGTH = 16;
const WHSEC = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

/** Why a callback secret is unusable, never quoting it; undefined if it is fine. */
function secretProblem(secret: string): string | undefined {
  if (secret.startsWith('whsec_')) {
    if (!WHSEC.test(secret)) return 'must be base64 after whsec_';
    const bytes = Buffer.from(secret.slice('whsec_'.length), 'base64').length;
    if (bytes < MIN_SECRET_LENGTH)
      return `must hold at least ${MIN_SECRET_LENGTH} bytes after whsec_`;
    return undefined;
  }
  return secret.length < MIN_SECRET_LENGTH
    ? `must be at least ${MIN_SECRET_LENGTH} characters`
    : undefined;
}

/** CALLBACK_SECRETS (`caller:secret,…`) by caller; entries are named by position, never quoted. */
function callerSecrets(value: string | undefined): Map<string, string> {
  const secrets = new Map<string, string>();
  list(value).forEach((entry, index) => {
    const at = entry.indexOf(':');
    const caller = at > 0 ? entry.slice(0, at) : '';
    const secret = at > 0 ? entry.slice(at + 1) : '';
    const which = `entry ${index + 1}`;
    if (!CALLER_NAME.test(caller))
      throw new ConfigError(
        'CALLBACK_SECRETS',
        `${which} must be caller:secret with a caller name of a-z 0-9 _ . -`,
      );
    const problem = secretProblem(secret);
    if (problem) throw new ConfigError('CALLBACK_SECRETS', `${which}: the secret ${problem}`);
    if (secrets.has(caller))
      throw new ConfigError('CALLBACK_SECRETS', `${which} repeats the caller ${caller}`);
    secrets.set(caller, secret);
  });
  return secrets;
}

/** API_KEYS_FILE as it is at start: a file that cannot be read or parsed stops the start. */
export function readApiKeysFile(path: string): ApiKeyEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError('API_KEYS_FILE', `cannot be read: ${path} (${code})`);
  }
  try {
    return parseApiKeysFile(text);
  } catch (error) {
    if (error instanceof ApiKeyEntryError) {
      throw new ConfigError('API_KEYS_FILE', `${path} ${error.message}`);
    }
    throw error;
  }
}

function authSettings(dto: EnvDto): AppConfig['auth'] {
  const disabled = dto.AUTH_DISABLED ?? false;
  let keys: ApiKeyEntry[];
  try {
    keys = parseApiKeysVariable(dto.API_KEYS);
  } catch (error) {
    if (error instanceof ApiKeyEntryError) throw new ConfigError('API_KEYS', error.message);
    throw error;
  }
  const keysFile =
    dto.API_KEYS_FILE === undefined
      ? undefined
      : { path: dto.API_KEYS_FILE, entries: readApiKeysFile(dto.API_KEYS_FILE) };
  const all = [...keys, ...(keysFile?.entries ?? [])];
  if (all.length === 0 && !disabled) {
    throw new ConfigError(
      'API_KEYS',
      'is required (comma-separated caller:key entries, or API_KEYS_FILE), unless AUTH_DISABLED=true',
    );
  }
  try {
    checkKeysDistinct(all);
  } catch (error) {
    if (error instanceof ApiKeyEntryError) {
      throw new ConfigError(keysFile ? 'API_KEYS_FILE' : 'API_KEYS', error.message);
    }
    throw error;
  }
  const admins = list(dto.ADMIN_CALLERS);
  const badAdmin = admins.find((name) => !CALLER_NAME.test(name));
  if (badAdmin !== undefined) {
    throw new ConfigError(
      'ADMIN_CALLERS',
      `must be caller names matching ${CALLER_NAME.source} (got "${badAdmin}")`,
    );
  }
  return { disabled, keys, ...(keysFile ? { keysFile } : {}), admins };
}

function metricsPort(dto: EnvDto): number | undefined {
  const port = dto.METRICS_PORT;
  if (port !== undefined && port === (dto.PORT ?? 3000)) {
    throw new ConfigError('METRICS_PORT', `must differ from PORT (both ${port})`);
  }
  return port;
}

/**
 * The access-key grant's endpoints: the token URL from CXONE_TOKEN_URL or NICE's per-area
 * default; the API base from CXONE_API_URL, or (undefined here) from the token answer's
 * `resource_server_base_uri`. Issuer discovery finds an OAuth token endpoint, not this one.
 */
function accessKeyEndpoints(dto: EnvDto): { apiUrl?: string; tokenUrl: string } {
  if (dto.CXONE_ISSUER !== undefined) {
    throw new ConfigError(
      'CXONE_ISSUER',
      'is not used with CXONE_GRANT_TYPE=access_key (its discovery finds the OAuth token endpoint); unset it',
    );
  }
  const values = { CXONE_TENANT: dto.CXONE_TENANT, CXONE_API_URL: undefined as string | undefined };
  const apiUrl =
    dto.CXONE_API_URL === undefined
      ? undefined
      : resolveUrl('CXONE_API_URL', dto.CXONE_API_URL, values);
  values.CXONE_API_URL = apiUrl;
  if (dto.CXONE_TOKEN_URL !== undefined) {
    return { apiUrl, tokenUrl: resolveUrl('CXONE_TOKEN_URL', dto.CXONE_TOKEN_URL, values) };
  }
  if (dto.CXONE_AREA === undefined) {
    throw new ConfigError(
      'CXONE_AREA',
      `is required when CXONE_GRANT_TYPE=access_key and CXONE_TOKEN_URL is not set (one of ${CXONE_AREAS.join(', ')})`,
    );
  }
  return {
    apiUrl,
    tokenUrl: `https://${dto.CXONE_AREA}.nice-incontact.com/authentication/v1/token/access-key`,
  };
}

/** STORE, or its default: `redis` with REDIS_URL, else `sqlite`. `redis` needs REDIS_URL. */
function storeOf(dto: EnvDto): AppConfig['store'] {
  const store = dto.STORE ?? (dto.REDIS_URL ? 'redis' : 'sqlite');
  if (store === 'redis' && !dto.REDIS_URL)
    throw new ConfigError('STORE', 'is redis but REDIS_URL is not set');
  return store;
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/**
 * Validates the environment and builds the typed configuration: `defaults` under the
 * environment, `overrides` over it. Throws `ConfigError` naming the first bad variable.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Record<string, string> = {},
  defaults: Record<string, string> = {},
): AppConfig {
  if (Object.keys(overrides).length > 0 || Object.keys(defaults).length > 0) {
    const set = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined));
    env = { ...defaults, ...set, ...overrides };
  }
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const dto = plainToInstance(EnvDto, present, { excludeExtraneousValues: false });
  const errors = validateSync(dto, { skipMissingProperties: false, forbidUnknownValues: false });
  if (errors.length > 0) throw firstProblem(errors, env);

  const simulator = dto.CXONE_SIMULATOR ?? false;
  const auth = authSettings(dto);

  const grantType = dto.CXONE_GRANT_TYPE ?? 'client_credentials';
  const issuer = dto.CXONE_ISSUER?.replace(/\/+$/, '');
  const discover = issuer !== undefined && !dto.CXONE_API_URL && !dto.CXONE_TOKEN_URL;
  let apiUrl: string | undefined;
  let tokenUrl: string | undefined;
  if (grantType === 'access_key') {
    ({ apiUrl, tokenUrl } = accessKeyEndpoints(dto));
  } else if (!discover) {
    if (!dto.CXONE_API_URL && !dto.CXONE_TENANT) {
      throw new ConfigError(
        'CXONE_TENANT',
        'is required when CXONE_API_URL and CXONE_ISSUER are not set',
      );
    }
    const values = {
      CXONE_TENANT: dto.CXONE_TENANT,
      CXONE_API_URL: undefined as string | undefined,
    };
    apiUrl = resolveUrl(
      'CXONE_API_URL',
      dto.CXONE_API_URL ?? 'https://{CXONE_TENANT}.api.nicecxone.com',
      values,
    );
    values.CXONE_API_URL = apiUrl;
    tokenUrl = resolveUrl(
      'CXONE_TOKEN_URL',
      dto.CXONE_TOKEN_URL ?? '{CXONE_API_URL}/platform/oauth/token',
      values,
    );
  }

  if (dto.CALLBACK_SECRET !== undefined) {
    const problem = secretProblem(dto.CALLBACK_SECRET);
    if (problem) throw new ConfigError('CALLBACK_SECRET', problem);
  }

  return Object.assign(new AppConfig(), {
    port: dto.PORT ?? 3000,
    host: dto.HOST,
    logLevel: dto.LOG_LEVEL ?? 'info',
    logPretty: dto.LOG_PRETTY ?? false,
    shutdownGraceSeconds: dto.SHUTDOWN_GRACE_SECONDS ?? 25,
    auth,
    callers: {
      rateLimitPerSecond: dto.CALLER_RATE_LIMIT ?? 100,
      maxQueuedItems: dto.CALLER_MAX_QUEUED_ITEMS ?? 1_000_000,
    },
    docsEnabled: dto.DOCS_ENABLED ?? true,
    cxone: {
      tenant: dto.CXONE_TENANT,
      apiUrl,
      tokenUrl,
      issuer,
      executePath: dto.CXONE_EXECUTE_PATH ?? DEFAULT_EXECUTE_PATH,
      // Only the access-key grant may go without a client: it then has none ('').
      clientId: dto.CXONE_CLIENT_ID ?? (simulator ? SIMULATOR_CREDENTIALS.clientId : ''),
      clientSecret:
        dto.CXONE_CLIENT_SECRET ?? (simulator ? SIMULATOR_CREDENTIALS.clientSecret : ''),
      grantType,
      area: dto.CXONE_AREA,
      apiUrlFromToken: grantType === 'access_key' && apiUrl === undefined,
      clientAuth: dto.CXONE_CLIENT_AUTH ?? 'body',
      // Unset means the default scope; set but empty means "send no scope".
      scope: env.CXONE_SCOPE === undefined ? DEFAULT_SCOPE : env.CXONE_SCOPE.trim(),
      accessKeyId:
        dto.CXONE_ACCESS_KEY_ID ?? (simulator ? SIMULATOR_CREDENTIALS.accessKeyId : undefined),
      accessKeySecret:
        dto.CXONE_ACCESS_KEY_SECRET ??
        (simulator ? SIMULATOR_CREDENTIALS.accessKeySecret : undefined),
      simulator,
      maxConcurrency: dto.CXONE_MAX_CONCURRENCY ?? 100,
      maxRetries: dto.CXONE_MAX_RETRIES ?? 3,
      maxRetryAfterSeconds: dto.MAX_RETRY_AFTER_SECONDS ?? 60,
      tokenRefreshSkewSeconds: dto.TOKEN_REFRESH_SKEW_SECONDS ?? 60,
    },
    tenant: {
      maxConcurrency: dto.CXONE_TENANT_MAX_CONCURRENCY,
      rateLimitPerSecond: dto.CXONE_RATE_LIMIT_PER_SECOND,
      adaptiveConcurrency: dto.ADAPTIVE_CONCURRENCY ?? true,
    },
    circuit: {
      failureThreshold: dto.CIRCUIT_FAILURE_THRESHOLD ?? 5,
      recoverySeconds: dto.CIRCUIT_RECOVERY_SECONDS ?? 30,
      minTimeoutMs: dto.CIRCUIT_MIN_TIMEOUT_MS ?? 5000,
    },
    cache: {
      staleTtlSeconds: dto.STALE_TTL_SECONDS ?? 86400,
      maxEntries: dto.CACHE_MAX_ENTRIES ?? 100000,
      maxBytes: dto.CACHE_MAX_BYTES ?? 16 * 1024 * 1024,
    },
    store: storeOf(dto),
    dataDir: resolve(dto.DATA_DIR ?? './data'),
    batch: {
      maxItems: dto.MAX_BATCH_ITEMS ?? 100000,
      maxWorkersPerBatch: dto.MAX_WORKERS_PER_BATCH ?? 256,
      maxBodyBytes: dto.MAX_BODY_BYTES ?? 50 * 1024 * 1024,
      retentionSeconds: dto.BATCH_RETENTION_SECONDS ?? 86400,
      maxQueuedItems: dto.MAX_QUEUED_ITEMS ?? 2000000,
      maxResultBytes: dto.MAX_RESULT_BYTES ?? 1024 * 1024,
    },
    redis: {
      url: dto.REDIS_URL,
      keyPrefix: dto.REDIS_KEY_PREFIX ?? 'cxo:',
      queueLockSeconds: dto.QUEUE_LOCK_SECONDS ?? 10,
      commandTimeoutMs: dto.REDIS_COMMAND_TIMEOUT_MS ?? 10_000,
      queueConcurrency: dto.QUEUE_CONCURRENCY ?? 50,
    },
    callback: {
      secret: dto.CALLBACK_SECRET,
      secrets: callerSecrets(dto.CALLBACK_SECRETS),
      allowedHosts: list(dto.CALLBACK_ALLOWED_HOSTS),
      maxAttempts: dto.CALLBACK_MAX_ATTEMPTS ?? 8,
      timeoutMs: dto.CALLBACK_TIMEOUT_MS ?? 10_000,
      retryDelayMs: dto.CALLBACK_RETRY_DELAY_MS ?? 5000,
    },
    proxy: proxySettings(dto),
    otel: {
      sdkDisabled: dto.OTEL_SDK_DISABLED ?? false,
      serviceName: dto.OTEL_SERVICE_NAME ?? 'cxone-orchestrator',
      exporterEndpoint: dto.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, ''),
      tracesEndpoint: dto.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
      protocol:
        dto.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ??
        dto.OTEL_EXPORTER_OTLP_PROTOCOL ??
        'http/protobuf',
      sampler: dto.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on',
      samplerRatio: dto.OTEL_TRACES_SAMPLER_ARG ?? 1,
      batch: spanBatchSettings(dto),
      headerValues: headerValues(
        dto.OTEL_EXPORTER_OTLP_HEADERS,
        dto.OTEL_EXPORTER_OTLP_TRACES_HEADERS,
      ),
    },
    metrics: { enabled: dto.METRICS_ENABLED ?? true, port: metricsPort(dto) },
    console: { enabled: dto.CONSOLE_ENABLED ?? true },
  });
}
