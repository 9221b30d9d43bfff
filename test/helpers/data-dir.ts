import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const created: string[] = [];
let cleanupRegistered = false;

/** A fresh directory for one service's SQLite store, removed when the test process exits. */
export function temporaryDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cxo-data-'));
  created.push(dir);
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    process.once('exit', () => {
      for (const path of created) rmSync(path, { recursive: true, force: true });
    });
  }
  return dir;
}

/**
 * `env` with a DATA_DIR of its own when it runs the default sqlite store and names none: every
 * test service starts on an empty store, and two never share a directory.
 */
export function withDataDir(
  env: Record<string, string | undefined>,
): Record<string, string | undefined> {
  const sqlite = env.STORE === 'sqlite' || (env.STORE === undefined && !env.REDIS_URL);
  return sqlite && env.DATA_DIR === undefined ? { ...env, DATA_DIR: temporaryDataDir() } : env;
}
