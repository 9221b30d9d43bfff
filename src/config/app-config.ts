import type { ApiKeyEntry } from './api-keys.js';
import type {
  CXONE_AREAS,
  CXONE_GRANT_TYPES,
  LOG_LEVELS,
  OTLP_PROTOCOLS,
  STORES,
  TRACE_SAMPLERS,
} from './env.schema.js';

export type GrantType = (typeof CXONE_GRANT_TYPES)[number];
export type ClientAuth = 'body' | 'basic';

export interface CxoneConfig {
  tenant?: string;
  /**
   * Resolved base URL of the API; undefined when it comes from `issuer` discovery or, with
   * `apiUrlFromToken`, from the token answer.
   */
  apiUrl?: string;
  /** Resolved token URL; undefined only when it comes from `issuer` discovery. */
  tokenUrl?: string;
  /** CXONE_AREA: picks the access-key grant's default token URL. */
  area?: (typeof CXONE_AREAS)[number];
  /** Access-key grant without CXONE_API_URL: the API base is the token answer's `resource_server_base_uri`. */
  apiUrlFromToken: boolean;
  issuer?: string;
  executePath: string;
  /** Empty with the access-key grant when no OAuth client is configured. */
  clientId: string;
  clientSecret: string;
  grantType: GrantType;
  clientAuth: ClientAuth;
  /** Empty string: no scope is sent. */
  scope: string;
  accessKeyId?: string;
  accessKeySecret?: string;
  simulator: boolean;
  maxConcurrency: number;
  maxRetries: number;
  maxRetryAfterSeconds: number;
  tokenRefreshSkewSeconds: number;
}

/** The typed configuration, validated once at start. Injected by class, never read from the environment. */
export class AppConfig {
  port: number;
  /** HOST: the address to listen on; unset, every interface. */
  host?: string;
  logLevel: (typeof LOG_LEVELS)[number];
  logPretty: boolean;
  shutdownGraceSeconds: number;
  auth: {
    /** AUTH_DISABLED=true: no key is asked for, every request is the caller `anonymous`. */
    disabled: boolean;
    /** API_KEYS, as digests (no key is kept). */
    keys: ApiKeyEntry[];
    /** API_KEYS_FILE: its path and what it held at start (re-read while running). */
    keysFile?: { path: string; entries: ApiKeyEntry[] };
    /** ADMIN_CALLERS: see and act on every caller's batches. */
    admins: string[];
  };
  /** Limits per caller (CALLER_RATE_LIMIT, CALLER_MAX_QUEUED_ITEMS). */
  callers: { rateLimitPerSecond: number; maxQueuedItems: number };
  /** DOCS_ENABLED=false: no /docs, no /docs-json. */
  docsEnabled: boolean;
  cxone: CxoneConfig;
  /** Tenant protection (what CXone accepts from the whole cluster). */
  tenant: {
    /** CXONE_TENANT_MAX_CONCURRENCY: CXone calls in flight across every replica; unset, no bound. */
    maxConcurrency?: number;
    /** CXONE_RATE_LIMIT_PER_SECOND: CXone calls started per second across every replica; unset, no bound. */
    rateLimitPerSecond?: number;
    /** ADAPTIVE_CONCURRENCY: each action's concurrency follows what CXone accepts (AIMD). */
    adaptiveConcurrency: boolean;
  };
  circuit: {
    failureThreshold: number;
    recoverySeconds: number;
    /** A timeout of a call given less than this is the caller's choice, not a failure of CXone. */
    minTimeoutMs: number;
  };
  cache: {
    staleTtlSeconds: number;
    maxEntries: number;
    /** CACHE_MAX_BYTES: the in-process cache's bound in (estimated) bytes, fresh and stale entries together. */
    maxBytes: number;
  };
  /**
   * Where batches are kept: `sqlite` (one process, a database file in `dataDir`), `memory` (one
   * process, nothing kept over a restart) or `redis` (every replica, REDIS_URL).
   */
  store: (typeof STORES)[number];
  /** DATA_DIR resolved to an absolute path: the `sqlite` store's directory. */
  dataDir: string;
  batch: {
    maxItems: number;
    maxWorkersPerBatch: number;
    maxBodyBytes: number;
    retentionSeconds: number;
    maxQueuedItems: number;
    /** MAX_RESULT_BYTES: the largest CXone answer kept for one item; a larger one fails it. */
    maxResultBytes: number;
  };
  redis: {
    url?: string;
    keyPrefix: string;
    /** BullMQ job lock: a killed replica's batch resumes elsewhere within 1.5 × this. */
    queueLockSeconds: number;
    /** Batches one replica runs at once. */
    queueConcurrency: number;
    /** A Redis command with no answer in this time fails (REDIS_COMMAND_TIMEOUT_MS). */
    commandTimeoutMs: number;
  };
  callback: {
    /** CALLBACK_SECRET: signs the callbacks of callers without a secret of their own. */
    secret?: string;
    /** CALLBACK_SECRETS: caller name → that caller's secret. */
    secrets: Map<string, string>;
    /** Hosts a callback may reach over http or at a refused address (docs/api.md, Callback). */
    allowedHosts: string[];
    maxAttempts: number;
    /** One attempt, from resolving the host to the answer's status line. */
    timeoutMs: number;
    /** The wait after the first failed attempt; it doubles with each attempt (jittered). */
    retryDelayMs: number;
  };
  /**
   * HTTP_PROXY, HTTPS_PROXY and NO_PROXY (the lower-case spelling wins): undefined when no proxy
   * is set. Given to Node's built-in proxy support (`http.Agent`'s `proxyEnv`). A proxy URL may
   * hold credentials: its password is a secret.
   */
  proxy?: { HTTP_PROXY?: string; HTTPS_PROXY?: string; NO_PROXY?: string };
  otel: {
    /** OTEL_SDK_DISABLED=true: no spans (trace ids are still propagated). */
    sdkDisabled: boolean;
    serviceName: string;
    /** Base URL of an OTLP/HTTP collector; traces go to `{base}/v1/traces`. Unset: no export. */
    exporterEndpoint?: string;
    /** Full URL of the traces endpoint; wins over `exporterEndpoint`. */
    tracesEndpoint?: string;
    /** OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL. */
    protocol: (typeof OTLP_PROTOCOLS)[number];
    sampler: (typeof TRACE_SAMPLERS)[number];
    /** Ratio of the `*traceidratio` samplers, 0..1. */
    samplerRatio: number;
    /** The batch span processor's OTEL_BSP_* settings. */
    batch: {
      scheduledDelayMillis: number;
      exportTimeoutMillis: number;
      maxQueueSize: number;
      maxExportBatchSize: number;
    };
    /**
     * Values of OTEL_EXPORTER_OTLP_HEADERS and OTEL_EXPORTER_OTLP_TRACES_HEADERS (a collector's
     * API key, say): the exporter reads the variables itself; these are kept so that no log
     * line shows them.
     */
    headerValues: string[];
  };
  /**
   * METRICS_ENABLED=false: nothing is recorded and GET /metrics answers 404. `port`
   * (METRICS_PORT): /metrics is served there only, not on the API port.
   */
  metrics: { enabled: boolean; port?: number };
  /** CONSOLE_ENABLED=false: GET /console answers 404. */
  console: { enabled: boolean };
}
