import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/load-config.js';
import { CallerKeys } from './caller-keys.js';

const base = { CXONE_SIMULATOR: 'true', CXONE_API_URL: 'http://127.0.0.1:9' };

describe('CallerKeys', () => {
  let dir: string;
  let warnings: string[];
  let errors: string[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cxo-caller-keys-'));
    warnings = [];
    errors = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => {
      warnings.push(String(message));
    });
    jest.spyOn(Logger.prototype, 'error').mockImplementation((message: unknown) => {
      errors.push(String(message));
    });
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => {
    jest.restoreAllMocks();
    rmSync(dir, { recursive: true, force: true });
  });

  it('names the caller of a key, admin or not, and nobody for a wrong or malformed header', () => {
    const hashed = createHash('sha256').update('ops-key-0123456789abcdef').digest('hex');
    const keys = new CallerKeys(
      loadConfig({
        ...base,
        API_KEYS: `alpha:alpha-key-0123456789, bare-key-0123456789, ops:sha256:${hashed}`,
        ADMIN_CALLERS: 'ops',
      }),
    );
    expect(keys.identify('Bearer alpha-key-0123456789')).toEqual({ name: 'alpha', admin: false });
    expect(keys.identify('bearer  bare-key-0123456789 ')).toEqual({
      name: 'default',
      admin: false,
    });
    expect(keys.identify('Bearer ops-key-0123456789abcdef')).toEqual({ name: 'ops', admin: true });
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer alpha-key-012345678',
      'Basic alpha-key-0123456789',
      'Bearer alpha-key-0123456789 extra',
      `Bearer sha256:${hashed}`,
    ]) {
      expect(keys.identify(header)).toBeUndefined();
    }
  });

  it('makes every request the caller "anonymous" while AUTH_DISABLED=true, with a loud warning', () => {
    const keys = new CallerKeys(loadConfig({ ...base, AUTH_DISABLED: 'true' }));
    keys.onModuleInit();
    expect(keys.identify(undefined)).toEqual({ name: 'anonymous', admin: false });
    expect(warnings.join('\n')).toContain('AUTH_DISABLED=true');
  });

  it('warns at start about short keys and admins with no key, naming callers only', async () => {
    const keys = new CallerKeys(
      loadConfig({
        ...base,
        API_KEYS: 'alpha:tiny-key, beta:beta-key-0123456789',
        ADMIN_CALLERS: 'ops,beta',
      }),
    );
    keys.onModuleInit();
    await keys.onModuleDestroy();
    expect(warnings).toEqual([
      expect.stringContaining('shorter than 16 characters (easy to guess) for callers: alpha'),
      'ADMIN_CALLERS names callers with no key: ops',
    ]);
    expect(warnings.join('\n')).not.toContain('tiny-key');
  });

  it('applies a changed key file, keeps the keys in use through a bad or missing file', async () => {
    const file = join(dir, 'keys');
    writeFileSync(file, 'alpha:alpha-key-0123456789\n');
    const keys = new CallerKeys(loadConfig({ ...base, API_KEYS_FILE: file }));
    expect(keys.identify('Bearer alpha-key-0123456789')?.name).toBe('alpha');

    writeFileSync(file, 'beta:beta-key-0123456789\n');
    await keys.pollKeyFile();
    expect(keys.identify('Bearer alpha-key-0123456789')).toBeUndefined();
    expect(keys.identify('Bearer beta-key-0123456789')?.name).toBe('beta');

    for (const bad of ['# everyone gone\n', 'gamma:gamma-key-0123456789\nbeta:\n']) {
      writeFileSync(file, bad);
      await keys.pollKeyFile();
      expect(keys.identify('Bearer beta-key-0123456789')?.name).toBe('beta');
      expect(keys.identify('Bearer gamma-key-0123456789')).toBeUndefined();
    }
    // The same bad file read again is not reported again.
    await keys.pollKeyFile();
    expect(errors).toHaveLength(2);
    expect(errors[1]).toContain(`API_KEYS_FILE ${file} line 2: caller "beta" has no key`);

    rmSync(file);
    await keys.pollKeyFile();
    await keys.pollKeyFile();
    expect(errors).toHaveLength(3);
    expect(errors[2]).toContain('cannot be read');
    expect(keys.identify('Bearer beta-key-0123456789')?.name).toBe('beta');
    expect(errors.join('\n')).not.toMatch(/beta-key|gamma-key/);
  });
});
