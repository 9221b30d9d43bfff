import type { NestExpressApplication } from '@nestjs/platform-express';
import { createApp } from '../../src/app.factory.js';
import { loadConfig } from '../../src/config/load-config.js';
import { withDataDir } from './data-dir.js';

export const TEST_API_KEY = 'test-key-0123456789';

/**
 * Starts the real application on a random loopback port, configured from `env` like production
 * (the default store, sqlite, in a fresh directory unless `env` says otherwise).
 */
export async function startTestApp(
  env: Record<string, string | undefined> = {},
): Promise<{ app: NestExpressApplication; url: string }> {
  const config = loadConfig(
    withDataDir({
      CXONE_SIMULATOR: 'true',
      CXONE_API_URL: 'http://127.0.0.1:9',
      API_KEYS: TEST_API_KEY,
      LOG_LEVEL: 'silent',
      ...env,
    }),
  );
  const app = await createApp(config, { logger: false });
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${address.port}` };
}

export const authHeader = { authorization: `Bearer ${TEST_API_KEY}` };
