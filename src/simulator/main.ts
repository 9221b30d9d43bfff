import { SimulatorConfigError, simulatorOptionsFromEnv } from './simulator.config.js';
import { DEFAULT_EXECUTE_PATH } from './simulator.options.js';
import { type SimulatorHandle, startSimulator } from './simulator.server.js';

/** `npm run sim`: the CXone simulator alone, configured by SIM_* variables. */
async function main(): Promise<void> {
  let options;
  try {
    options = simulatorOptionsFromEnv(process.env);
  } catch (error) {
    return exitWith(error instanceof SimulatorConfigError ? error.message : String(error));
  }

  let sim: SimulatorHandle;
  try {
    sim = await startSimulator(options);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      return exitWith(
        `SIM_PORT/SIM_HOST: cannot listen on ${options.host ?? '127.0.0.1'}:${options.port} (${code})`,
      );
    }
    throw error;
  }

  process.stdout.write(
    `CXone simulator listening on ${sim.url}\n` +
      `  token:   POST ${sim.url}/platform/oauth/token\n` +
      `           POST ${sim.url}/authentication/v1/token/access-key (access keys, JSON)\n` +
      `  execute: POST ${sim.url}${options.executePath ?? DEFAULT_EXECUTE_PATH}\n` +
      `  admin:   ${sim.url}/__sim/stats, /__sim/profiles, /__sim/token\n`,
  );

  const stop = (signal: NodeJS.Signals): void => {
    process.stdout.write(`${signal} received, stopping the simulator\n`);
    sim.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function exitWith(message: string): void {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

await main();
