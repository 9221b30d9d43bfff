import { Transform, Type } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  MinLength,
  ValidateIf,
} from 'class-validator';

const toBoolean = ({ value }: { value: unknown }): unknown => {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') return value;
  const normalised = value.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(normalised)) return true;
  if (['false', '0', 'no'].includes(normalised)) return false;
  return value;
};

const urlOptions = { require_tld: false, require_protocol: true, protocols: ['http', 'https'] };

/** NICE CXone areas whose access-key token endpoint is `https://{area}.nice-incontact.com/…`. */
export const CXONE_AREAS = ['na1', 'au1', 'eu1'] as const;
export const CXONE_GRANT_TYPES = ['client_credentials', 'password', 'access_key'] as const;

/** The access-key grant needs no OAuth client: NICE issues the token for the key alone. */
const needsOAuthClient = (env: EnvDto): boolean =>
  env.CXONE_SIMULATOR !== true && env.CXONE_GRANT_TYPE !== 'access_key';
const needsAccessKey = (env: EnvDto): boolean =>
  env.CXONE_SIMULATOR !== true &&
  (env.CXONE_GRANT_TYPE === 'password' || env.CXONE_GRANT_TYPE === 'access_key');
const accessKeyRequired = ({ object }: { object: object }): string =>
  `is required when CXONE_GRANT_TYPE=${(object as EnvDto).CXONE_GRANT_TYPE}`;
const clientRequired = 'is required (unless CXONE_SIMULATOR=true or CXONE_GRANT_TYPE=access_key)';

/** Where batches are kept (STORE); unset: `redis` with REDIS_URL, else `sqlite`. */
export const STORES = ['memory', 'sqlite', 'redis'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** OTLP transports the trace exporter speaks; `http/protobuf` is the OpenTelemetry default. */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
/** OTEL_TRACES_SAMPLER values supported (OpenTelemetry SDK environment specification). */
export const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/** W3C Baggage-like `key=value,key2=value2` (the OpenTelemetry format of OTLP exporter headers). */
const OTLP_HEADERS = /^\s*[^\s=,]+\s*=[^,]*(,\s*[^\s=,]+\s*=[^,]*)*$/;

/**
 * Every environment variable the service reads, as strings arrive from the environment.
 * Validated once at start by `loadConfig`; nothing else reads `process.env`.
 */
export class EnvDto {
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(65535) PORT?: number;
  @IsOptional()
  @Matches(/^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|[0-9A-Fa-f:.]+)$/, {
    message: 'must be a host name or an IP address',
  })
  HOST?: string;

  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9-]+$/, { message: 'must be a tenant name (letters, digits, dashes)' })
  CXONE_TENANT?: string;
  @IsOptional() @IsString() CXONE_API_URL?: string;
  @IsOptional() @IsString() CXONE_TOKEN_URL?: string;
  @IsOptional()
  @IsString()
  @Matches(/^\/.*\{actionId\}/, { message: 'must start with / and contain {actionId}' })
  CXONE_EXECUTE_PATH?: string;
  @IsOptional() @IsUrl(urlOptions) CXONE_ISSUER?: string;

  @ValidateIf(needsOAuthClient)
  @IsString({ message: clientRequired })
  @MinLength(1, { message: clientRequired })
  CXONE_CLIENT_ID?: string;
  @ValidateIf(needsOAuthClient)
  @IsString({ message: clientRequired })
  @MinLength(1, { message: clientRequired })
  CXONE_CLIENT_SECRET?: string;

  @IsOptional()
  @IsIn(CXONE_GRANT_TYPES, { message: `must be one of ${CXONE_GRANT_TYPES.join(', ')}` })
  CXONE_GRANT_TYPE?: (typeof CXONE_GRANT_TYPES)[number];
  @IsOptional()
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.trim().toLowerCase() : value,
  )
  @IsIn(CXONE_AREAS, { message: `must be one of ${CXONE_AREAS.join(', ')}` })
  CXONE_AREA?: (typeof CXONE_AREAS)[number];
  @IsOptional() @IsIn(['body', 'basic']) CXONE_CLIENT_AUTH?: 'body' | 'basic';
  @IsOptional() @IsString() CXONE_SCOPE?: string;
  @ValidateIf(needsAccessKey)
  @IsString({ message: accessKeyRequired })
  @MinLength(1, { message: accessKeyRequired })
  CXONE_ACCESS_KEY_ID?: string;
  @ValidateIf(needsAccessKey)
  @IsString({ message: accessKeyRequired })
  @MinLength(1, { message: accessKeyRequired })
  CXONE_ACCESS_KEY_SECRET?: string;
  @IsOptional() @Transform(toBoolean) @IsBoolean() CXONE_SIMULATOR?: boolean;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(10000) CXONE_MAX_CONCURRENCY?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(10) CXONE_MAX_RETRIES?: number;
  // Tenant protection: one budget for every replica, and concurrency that adapts per action.
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  CXONE_TENANT_MAX_CONCURRENCY?: number;
  @IsOptional()
  @Type(() => Number)
  @IsNumber()
  @Min(0.01)
  @Max(100_000)
  CXONE_RATE_LIMIT_PER_SECOND?: number;
  @IsOptional() @Transform(toBoolean) @IsBoolean() ADAPTIVE_CONCURRENCY?: boolean;
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(3600) MAX_RETRY_AFTER_SECONDS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(3600) TOKEN_REFRESH_SKEW_SECONDS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) CIRCUIT_FAILURE_THRESHOLD?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(86400) CIRCUIT_RECOVERY_SECONDS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(120_000) CIRCUIT_MIN_TIMEOUT_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(2592000) STALE_TTL_SECONDS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(100) @Max(10000000) CACHE_MAX_ENTRIES?: number;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000000) MAX_BATCH_ITEMS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(10000) MAX_WORKERS_PER_BATCH?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1024) @Max(1073741824) MAX_BODY_BYTES?: number;
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(31536000)
  BATCH_RETENTION_SECONDS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100000000) MAX_QUEUED_ITEMS?: number;
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1024)
  @Max(67108864)
  MAX_RESULT_BYTES?: number;
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1048576)
  @Max(17179869184)
  CACHE_MAX_BYTES?: number;

  @IsOptional() @IsIn(STORES) STORE?: (typeof STORES)[number];
  @IsOptional() @IsString() @MinLength(1) DATA_DIR?: string;

  @IsOptional()
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['redis', 'rediss'] })
  REDIS_URL?: string;
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9:_.-]{1,64}$/, { message: 'must be 1-64 of A-Z a-z 0-9 : _ . -' })
  REDIS_KEY_PREFIX?: string;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(3600) QUEUE_LOCK_SECONDS?: number;
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(600_000)
  REDIS_COMMAND_TIMEOUT_MS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) QUEUE_CONCURRENCY?: number;

  @IsOptional() @IsString() API_KEYS?: string;
  @IsOptional() @IsString() @MinLength(1) API_KEYS_FILE?: string;
  @IsOptional() @Transform(toBoolean) @IsBoolean() AUTH_DISABLED?: boolean;
  @IsOptional() @IsString() ADMIN_CALLERS?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1_000_000) CALLER_RATE_LIMIT?: number;
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100_000_000)
  CALLER_MAX_QUEUED_ITEMS?: number;

  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'must be at least 16 characters' })
  CALLBACK_SECRET?: string;
  /** `caller:secret,…`; parsed (and each secret checked) by loadConfig. */
  @IsOptional() @IsString() CALLBACK_SECRETS?: string;
  @IsOptional() @IsString() CALLBACK_ALLOWED_HOSTS?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) CALLBACK_MAX_ATTEMPTS?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(100) @Max(120_000) CALLBACK_TIMEOUT_MS?: number;
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(10)
  @Max(3_600_000)
  CALLBACK_RETRY_DELAY_MS?: number;

  @IsOptional() @IsUrl(urlOptions) OTEL_EXPORTER_OTLP_ENDPOINT?: string;
  @IsOptional() @IsUrl(urlOptions) OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string;
  @IsOptional() @IsIn(OTLP_PROTOCOLS) OTEL_EXPORTER_OTLP_PROTOCOL?: (typeof OTLP_PROTOCOLS)[number];
  @IsOptional()
  @IsIn(OTLP_PROTOCOLS)
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?: (typeof OTLP_PROTOCOLS)[number];
  @IsOptional()
  @Matches(OTLP_HEADERS, { message: 'must be key=value pairs separated by commas' })
  OTEL_EXPORTER_OTLP_HEADERS?: string;
  @IsOptional()
  @Matches(OTLP_HEADERS, { message: 'must be key=value pairs separated by commas' })
  OTEL_EXPORTER_OTLP_TRACES_HEADERS?: string;

  // Outbound proxy (Node's built-in proxy support); the lower-case spelling wins, as in Node.
  @IsOptional() @IsUrl(urlOptions) HTTP_PROXY?: string;
  @IsOptional() @IsUrl(urlOptions) HTTPS_PROXY?: string;
  @IsOptional() @IsString() NO_PROXY?: string;
  @IsOptional() @IsUrl(urlOptions) http_proxy?: string;
  @IsOptional() @IsUrl(urlOptions) https_proxy?: string;
  @IsOptional() @IsString() no_proxy?: string;
  @IsOptional() @Transform(toBoolean) @IsBoolean() OTEL_SDK_DISABLED?: boolean;
  @IsOptional() @IsString() @MinLength(1) OTEL_SERVICE_NAME?: string;
  @IsOptional() @IsIn(TRACE_SAMPLERS) OTEL_TRACES_SAMPLER?: (typeof TRACE_SAMPLERS)[number];
  @IsOptional() @Type(() => Number) @IsNumber() @Min(0) @Max(1) OTEL_TRACES_SAMPLER_ARG?: number;
  // Batch span processor (OpenTelemetry SDK environment specification).
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(60_000) OTEL_BSP_SCHEDULE_DELAY?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(300_000) OTEL_BSP_EXPORT_TIMEOUT?: number;
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  OTEL_BSP_MAX_QUEUE_SIZE?: number;
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE?: number;
  @IsOptional() @Transform(toBoolean) @IsBoolean() METRICS_ENABLED?: boolean;
  @IsOptional() @Transform(toBoolean) @IsBoolean() CONSOLE_ENABLED?: boolean;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(65535) METRICS_PORT?: number;
  @IsOptional() @Transform(toBoolean) @IsBoolean() DOCS_ENABLED?: boolean;
  @IsOptional() @IsIn(LOG_LEVELS) LOG_LEVEL?: (typeof LOG_LEVELS)[number];
  @IsOptional() @Transform(toBoolean) @IsBoolean() LOG_PRETTY?: boolean;
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(600) SHUTDOWN_GRACE_SECONDS?: number;
}
