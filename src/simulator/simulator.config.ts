import { readFileSync } from 'node:fs';
import {
  parseProfileMap,
  resolveSimulatorOptions,
  type SimulatorOptions,
} from './simulator.options.js';
import { SimulatorInputError } from './simulator.validation.js';
import type { FaultProfileInput } from './fault-profile.js';

/** A bad SIM_* variable; the message is the one line main prints before exiting 1. */
export class SimulatorConfigError extends Error {
  override readonly name = 'SimulatorConfigError';
}

export type SimulatorEnv = Readonly<Record<string, string | undefined>>;

/**
 * The simulator's own small configuration (it is a separate entry point from the service):
 * SIM_PORT (4010), SIM_HOST (127.0.0.1), SIM_SEED (42), SIM_PROFILES (JSON) or
 * SIM_PROFILES_FILE (path), SIM_CLIENT_ID, SIM_CLIENT_SECRET, SIM_ACCESS_KEY_ID,
 * SIM_ACCESS_KEY_SECRET, SIM_TOKEN_LIFETIME_SECONDS, SIM_TENANT, SIM_EXECUTE_PATH,
 * SIM_MAX_REQUEST_IDS.
 */
export function simulatorOptionsFromEnv(
  env: SimulatorEnv,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): SimulatorOptions {
  const options: SimulatorOptions = {
    port: integer(env, 'SIM_PORT', 4010, 0, 65_535),
    host: text(env, 'SIM_HOST'),
    seed: integer(env, 'SIM_SEED', 42, -(2 ** 31), 2 ** 32 - 1),
    clientId: text(env, 'SIM_CLIENT_ID'),
    clientSecret: text(env, 'SIM_CLIENT_SECRET'),
    accessKeyId: text(env, 'SIM_ACCESS_KEY_ID'),
    accessKeySecret: text(env, 'SIM_ACCESS_KEY_SECRET'),
    tokenLifetimeSeconds: integer(env, 'SIM_TOKEN_LIFETIME_SECONDS', 3600, 0, 31_536_000),
    tenant: text(env, 'SIM_TENANT'),
    executePath: text(env, 'SIM_EXECUTE_PATH'),
    maxRequestIds: integer(env, 'SIM_MAX_REQUEST_IDS', 1_000_000, 1, 100_000_000),
    profiles: profiles(env, readFile),
  };
  try {
    resolveSimulatorOptions(options);
  } catch (error) {
    if (error instanceof SimulatorInputError && error.field === 'executePath') {
      throw new SimulatorConfigError(`SIM_EXECUTE_PATH ${error.detail}`);
    }
    throw error;
  }
  return options;
}

function profiles(
  env: SimulatorEnv,
  readFile: (path: string) => string,
): Record<string, FaultProfileInput> | undefined {
  const inline = env.SIM_PROFILES;
  const file = env.SIM_PROFILES_FILE;
  if (inline && file) {
    throw new SimulatorConfigError('SIM_PROFILES and SIM_PROFILES_FILE are both set; set one');
  }
  let name = 'SIM_PROFILES';
  let json = inline;
  if (file) {
    name = 'SIM_PROFILES_FILE';
    try {
      json = readFile(file);
    } catch (error) {
      throw new SimulatorConfigError(`${name} cannot be read (${(error as Error).message})`);
    }
  }
  if (json === undefined || json.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new SimulatorConfigError(`${name} is not valid JSON (${(error as Error).message})`);
  }
  try {
    parseProfileMap(parsed);
  } catch (error) {
    if (error instanceof SimulatorInputError) {
      throw new SimulatorConfigError(`${name}: ${error.message}`);
    }
    throw error;
  }
  return parsed as Record<string, FaultProfileInput>;
}

function integer(env: SimulatorEnv, name: string, fallback: number, min: number, max: number) {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!/^-?\d+$/.test(raw.trim()) || value < min || value > max) {
    throw new SimulatorConfigError(
      `${name} must be an integer between ${min} and ${max} (got ${JSON.stringify(raw)})`,
    );
  }
  return value;
}

function text(env: SimulatorEnv, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}
