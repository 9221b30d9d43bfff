import 'reflect-metadata';
import { setGlobalProxyFromEnv } from 'node:http';
import { createApp } from './app.factory.js';
import { ConfigError, loadConfig } from './config/load-config.js';
import { StartupError } from './lib/startup-error.js';

/** A bad variable or an unusable DATA_DIR: one line on stderr and exit 1, no stack. */
function stopStart(error: unknown): never {
  if (error instanceof ConfigError || error instanceof StartupError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  throw error;
}

async function bootstrap(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    stopStart(error);
  }
  // fetch (token, discovery, callbacks) through the proxy too; the CXone client's own agents get
  // it from cxoneHttpOptions. Process-wide, so here rather than in createApp (tests build apps
  // in their own process).
  if (config.proxy) setGlobalProxyFromEnv(config.proxy);
  const app = await createApp(config).catch(stopStart);
  await (config.host === undefined
    ? app.listen(config.port)
    : app.listen(config.port, config.host));
}

await bootstrap();
