import { stdSerializers } from 'pino';
import type { AppConfig } from '../../config/app-config.js';

export const CENSOR = '[redacted]';

/** Paths pino removes from every log line: credentials and tokens in structured fields. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'client_secret',
  'clientSecret',
  'password',
  'access_token',
  'accessToken',
  'accessKeySecret',
  'apiKeys',
  'secret',
  '*.client_secret',
  '*.clientSecret',
  '*.password',
  '*.access_token',
  '*.accessToken',
  '*.accessKeySecret',
  '*.apiKeys',
  '*.secret',
];

/** Fields of HTTP client errors (axios) that carry the request: its headers, body and socket. */
const REQUEST_FIELDS = ['config', 'request', 'response', 'headers', 'data'];

/**
 * pino's error serializer, minus the fields through which an HTTP client error would log the
 * request it made (Authorization header, token form with the client secret).
 */
export function serializeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const serialized = stdSerializers.err(error) as unknown as Record<string, unknown>;
  for (const field of REQUEST_FIELDS) delete serialized[field];
  return serialized;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Secrets shorter than this are not searched for in text (they would mangle ordinary words). */
const MIN_SECRET_LENGTH = 6;

/** CALLBACK_SECRET and every CALLBACK_SECRETS value; a `whsec_` secret also without its prefix (its base64 key). */
function callbackSecrets(config: AppConfig): (string | undefined)[] {
  const { secret, secrets } = config.callback;
  const all = [secret, ...(secrets?.values() ?? [])];
  return all.flatMap((value) =>
    value?.startsWith('whsec_') ? [value, value.slice('whsec_'.length)] : [value],
  );
}

/**
 * The configured secret values: CXone credentials, the callback keys, OTLP header values, the
 * Redis and proxy passwords. Caller API keys are not among them: the service keeps only their
 * digests, and a key reaches a line only in an Authorization header (redacted by path, and by the
 * `Bearer` rule of the scrubber).
 */
export function secretsOf(config: AppConfig): string[] {
  const secrets = [
    config.cxone.clientSecret,
    config.cxone.accessKeySecret,
    ...callbackSecrets(config),
    ...(config.otel?.headerValues ?? []),
  ];
  for (const url of [config.redis.url, config.proxy?.HTTP_PROXY, config.proxy?.HTTPS_PROXY]) {
    if (url === undefined) continue;
    try {
      // As written in the URL (percent-encoded) and as sent.
      const { password } = new URL(url);
      secrets.push(password, decodeURIComponent(password));
    } catch {
      // not a URL: load-config already refused it
    }
  }
  return secrets.filter(
    (secret): secret is string => secret !== undefined && secret.length >= MIN_SECRET_LENGTH,
  );
}

/**
 * Removes secrets from a serialized log line, whatever field or message they hide in: known
 * secret values (as written, and JSON-escaped), `Bearer`/`Basic` credentials, and
 * `client_secret=`, `password=`, `access_token` in form or JSON text. The last line of
 * defence behind `REDACTED_PATHS` and `serializeError`; runs once per line written.
 */
export function secretScrubber(secrets: readonly string[]): (line: string) => string {
  const variants = new Set<string>();
  for (const secret of secrets) {
    variants.add(secret);
    variants.add(JSON.stringify(secret).slice(1, -1));
    variants.add(JSON.stringify(JSON.stringify(secret).slice(1, -1)).slice(1, -1));
  }
  const known =
    variants.size === 0
      ? undefined
      : new RegExp(
          [...variants]
            .sort((a, b) => b.length - a.length)
            .map(escapeRegExp)
            .join('|'),
          'g',
        );
  const credentials = /\b(Bearer|Basic)(\s+)[A-Za-z0-9\-._~+/]+=*/gi;
  const formFields =
    /\b((?:client_secret|password|access_token|refresh_token|api_key|apikey)=)[^&\s"\\]+/gi;
  const jsonFields =
    /((?:\\*")(?:client_secret|clientSecret|password|access_token|accessToken|refresh_token|accessKeySecret)\\*"\s*:\s*\\*")(?!\[redacted\])[^"\\]+/g;

  return (line) => {
    let safe = known === undefined ? line : line.replace(known, CENSOR);
    safe = safe.replace(credentials, `$1$2${CENSOR}`);
    safe = safe.replace(formFields, `$1${CENSOR}`);
    return safe.replace(jsonFields, `$1${CENSOR}`);
  };
}
