import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { createApp } from '../src/app.factory.js';
import { loadConfig } from '../src/config/load-config.js';
import { bearer } from './helpers/callers.js';
import { waitFor } from './helpers/service-process.js';

// A file of its own: the log lines are read from the app's destination, and pino's root logger
// is made once per module registry (per test file).

describe('callers: API_KEYS_FILE rotated while the service runs', () => {
  let dir: string;
  let file: string;
  let app: NestExpressApplication;
  let url: string;
  const lines: string[] = [];

  const old = 'alpha-old-key-0123456789';
  const fresh = 'alpha-new-key-0123456789';
  const other = 'gamma-key-0123456789abcd';
  const statusWith = async (key: string): Promise<number> =>
    (await fetch(`${url}/batch`, { headers: bearer(key) })).status;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cxo-keys-'));
    file = join(dir, 'api-keys');
    writeFileSync(file, `# callers\nalpha:${old}\n`);
    const config = loadConfig({
      CXONE_SIMULATOR: 'true',
      CXONE_API_URL: 'http://127.0.0.1:9',
      API_KEYS_FILE: file,
      LOG_LEVEL: 'info',
    });
    const logDestination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    app = await createApp(config, { logger: false, logDestination });
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies a rotation within 10 s, keeps the keys in use through a bad change, and never logs a key', async () => {
    expect(await statusWith(old)).toBe(200);
    expect(await statusWith(fresh)).toBe(401);

    // Rotation: both keys for a while (one caller, two keys), one given as its SHA-256.
    const freshHash = createHash('sha256').update(fresh).digest('hex');
    writeFileSync(file, `alpha:${old}\nalpha:sha256:${freshHash}\n`);
    await waitFor(async () => (await statusWith(fresh)) === 200, 10_000, 'the new key');
    expect(await statusWith(old)).toBe(200);
    writeFileSync(file, `alpha:sha256:${freshHash}\n`);
    await waitFor(async () => (await statusWith(old)) === 401, 10_000, 'the old key retired');

    // A bad change (line 2) is not applied, not even its good line 1.
    writeFileSync(file, `gamma:${other}\nbeta:sha256:not-a-digest\n`);
    await waitFor(
      async () => lines.some((line) => line.includes('keeping the previous keys')),
      10_000,
      'the error line',
    );
    expect(await statusWith(fresh)).toBe(200);
    expect(await statusWith(other)).toBe(401);
    const error = JSON.parse(lines.find((line) => line.includes('keeping the previous'))!);
    expect(error.level).toBe(50);
    expect(error.msg).toContain(`API_KEYS_FILE ${file} line 2`);

    // A file gone is a bad change too.
    rmSync(file);
    await waitFor(
      async () => lines.some((line) => line.includes('cannot be read')),
      10_000,
      'the missing-file line',
    );
    expect(await statusWith(fresh)).toBe(200);

    const text = lines.join('');
    for (const key of [old, fresh, other]) expect(text).not.toContain(key);
    expect(text).not.toContain(freshHash);
  }, 60_000);

  it('stops the start on a file that does not parse, naming the file and line, never a key', () => {
    const broken = join(dir, 'broken-keys');
    writeFileSync(broken, `alpha:${old}\n\nBad Name:secret-value-0123456789\n`);
    const result = spawnSync(process.execPath, ['dist/main.js'], {
      env: { PATH: process.env.PATH, CXONE_SIMULATOR: 'true', API_KEYS_FILE: broken },
      encoding: 'utf8',
      timeout: 15000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      `Invalid configuration: API_KEYS_FILE ${broken} line 3: the caller name must match ^[a-z0-9][a-z0-9_.-]{0,63}$ (a bare key must not contain ":")`,
    );
    expect(result.stderr + result.stdout).not.toContain('secret-value');
    expect(result.stderr + result.stdout).not.toContain(old);
  });
});
