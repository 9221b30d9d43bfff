import 'reflect-metadata';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../app.factory.js';
import { ConfigError, loadConfig } from '../config/load-config.js';
import { StartupError } from '../lib/startup-error.js';
import { startSimulator } from '../simulator/simulator.server.js';

/** Where the demo keeps its batches (relative to the working directory), unless DATA_DIR is set. */
const DEMO_DATA_DIR = './data/demo';

/** Fault profiles of the demo's simulated actions. */
const DEMO_PROFILES = {
  '*': { latency_ms: 40, jitter_ms: 20 },
  'demo-flaky': {
    latency_ms: 30,
    jitter_ms: 20,
    rate_limit_rate: 0.1,
    retry_after_seconds: 1,
    error_rate: 0.05,
    error_status: 500,
    hang_rate: 0.03,
  },
};

/** A CSV of customers to try `cxo submit` on (a header row, one customer a row). */
function writeSampleCsv(rows: number): string {
  const dir = join(tmpdir(), 'cxo-demo');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'customers.csv');
  const lines = ['id,name,segment'];
  for (let n = 1; n <= rows; n++) {
    lines.push(`customer-${n},Customer ${n},${n % 4 === 0 ? 'gold' : 'standard'}`);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** `npm run demo`: the CXone simulator and the service in one process, auth disabled, pretty logs. */
async function demo(): Promise<void> {
  const sim = await startSimulator({ port: 0, profiles: DEMO_PROFILES });
  let config;
  try {
    config = loadConfig(
      undefined,
      {
        CXONE_API_URL: sim.url,
        CXONE_SIMULATOR: 'true',
        AUTH_DISABLED: 'true',
        LOG_PRETTY: 'true',
      },
      // The embedded store in a folder of the demo's own, unless the environment names others.
      { STORE: 'sqlite', DATA_DIR: DEMO_DATA_DIR },
    );
  } catch (error) {
    process.stderr.write(`${error instanceof ConfigError ? error.message : String(error)}\n`);
    await sim.close();
    process.exit(1);
  }
  let app;
  try {
    app = await createApp(config);
  } catch (error) {
    await sim.close();
    if (!(error instanceof StartupError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  await app.listen(config.port);
  const base = `http://localhost:${config.port}`;
  const sampleCsv = writeSampleCsv(500);
  // cxo talks to http://localhost:3000 unless CXO_URL says otherwise.
  const cxo = config.port === 3000 ? 'npx cxo' : `CXO_URL=${base} npx cxo`;
  const body = JSON.stringify({
    action_id: 'demo-flaky',
    payloads: Array.from({ length: 20 }, (_, n) => ({ id: `customer-${n + 1}` })),
    max_workers: 8,
    timeout_ms: 2000,
  });
  process.stdout.write(
    [
      '',
      `  CXone simulator:  ${sim.url}  (admin: ${sim.url}/__sim/stats)`,
      `  Orchestrator:     ${base}`,
      `  Web console:      ${base}/console   (auth is off: no key needed)`,
      `  Swagger UI:       ${base}/docs`,
      config.store === 'sqlite'
        ? `  Batches kept in:  ${config.dataDir}  (delete it to start afresh)`
        : `  Batches kept in:  ${config.store === 'redis' ? 'Redis' : 'memory (lost at exit)'}`,
      '',
      '  Run a CSV through a flaky action (429s, 500s and hangs) with the command-line client,',
      '  from another terminal in this directory, and watch it in the console too:',
      `    ${cxo} submit ${sampleCsv} --action demo-flaky --workers 8 --timeout-ms 2000 --wait`,
      `    ${cxo} list`,
      `    ${cxo} status <batch_id>`,
      `    ${cxo} results <batch_id> --status failed`,
      `    ${cxo} results <batch_id> --out results.csv`,
      `    ${cxo} redrive <batch_id> --wait`,
      '',
      '  Or with curl:',
      `    curl -s -X POST ${base}/batch/execute -H 'content-type: application/json' -d '${body}'`,
      '  then poll the status_url it returns:',
      `    curl -s '${base}/batch/<batch_id>/status?limit=5'`,
      '',
      '  Ctrl-C stops both.',
      '',
    ].join('\n'),
  );
  const stop = (): void => {
    void app
      .close()
      .then(() => sim.close())
      .finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

await demo();
