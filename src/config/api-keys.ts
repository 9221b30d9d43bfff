import { createHash } from 'node:crypto';

/** A caller's name: what batches, logs and limits are keyed by. */
export const CALLER_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
/** The caller of a bare key (an entry with no `caller:`). */
export const DEFAULT_CALLER = 'default';
/** The caller of every request while AUTH_DISABLED=true. */
export const ANONYMOUS_CALLER = 'anonymous';
/** Keys shorter than this are accepted with a warning: they can be guessed. */
export const SHORT_KEY_LENGTH = 16;

const HASHED_KEY = /^sha256:([0-9a-fA-F]{64})$/;

/** One configured key: only its SHA-256 digest is kept, never the key. */
export interface ApiKeyEntry {
  caller: string;
  /** SHA-256 of the key, lowercase hex. */
  digest: string;
  /** Given in clear and shorter than SHORT_KEY_LENGTH. */
  short: boolean;
}

/** Why an entry was refused, worded to follow "API_KEYS entry 2: " or "<file> line 3: ". */
export class ApiKeyEntryError extends Error {
  constructor(
    readonly where: string,
    problem: string,
  ) {
    super(`${where}: ${problem}`);
    this.name = 'ApiKeyEntryError';
  }
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/**
 * `caller:key`, `caller:sha256:<64 hex>` or a bare `key` (caller `default`). The problem, if any,
 * never quotes the key.
 */
function parseEntry(text: string, where: string): ApiKeyEntry {
  const colon = text.indexOf(':');
  const caller = colon < 0 ? DEFAULT_CALLER : text.slice(0, colon);
  const key = colon < 0 ? text : text.slice(colon + 1);
  if (!CALLER_NAME.test(caller)) {
    throw new ApiKeyEntryError(
      where,
      `the caller name must match ${CALLER_NAME.source} (a bare key must not contain ":")`,
    );
  }
  if (key.length === 0) throw new ApiKeyEntryError(where, `caller "${caller}" has no key`);
  if (/\s/.test(key)) throw new ApiKeyEntryError(where, 'the key must not contain whitespace');
  if (key.startsWith('sha256:')) {
    const hashed = HASHED_KEY.exec(key);
    if (!hashed) {
      throw new ApiKeyEntryError(where, 'sha256: must be followed by 64 hexadecimal digits');
    }
    return { caller, digest: hashed[1].toLowerCase(), short: false };
  }
  return { caller, digest: sha256Hex(key), short: key.length < SHORT_KEY_LENGTH };
}

/** API_KEYS: entries separated by commas. */
export function parseApiKeysVariable(value: string | undefined): ApiKeyEntry[] {
  const entries: ApiKeyEntry[] = [];
  (value ?? '').split(',').forEach((raw, index) => {
    const text = raw.trim();
    if (text.length > 0) entries.push(parseEntry(text, `entry ${index + 1}`));
  });
  return entries;
}

/** An API_KEYS_FILE: one entry a line; blank lines and lines starting with `#` are skipped. */
export function parseApiKeysFile(text: string): ApiKeyEntry[] {
  const entries: ApiKeyEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line.length === 0 || line.startsWith('#')) return;
    entries.push(parseEntry(line, `line ${index + 1}`));
  });
  return entries;
}

/**
 * Refuses one key given to two callers (a request with it would belong to either). One caller
 * with several keys is fine: that is how a key is rotated.
 */
export function checkKeysDistinct(entries: ApiKeyEntry[]): void {
  const owners = new Map<string, string>();
  for (const { caller, digest } of entries) {
    const owner = owners.get(digest);
    if (owner !== undefined && owner !== caller) {
      throw new ApiKeyEntryError(
        'keys',
        `the same key is given to callers "${owner}" and "${caller}"`,
      );
    }
    owners.set(digest, caller);
  }
}
