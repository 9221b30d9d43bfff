import { type FaultProfile, type FaultProfileInput, parseFaultProfile } from './fault-profile.js';
import { MAX_TOKEN_LIFETIME_SECONDS } from './token-behaviour.js';
import {
  SimulatorInputError,
  checkNumber,
  describe,
  isPlainObject,
  withFieldPrefix,
} from './simulator.validation.js';

export const DEFAULT_EXECUTE_PATH = '/api/v2/data-actions/{actionId}/execute';
export const TOKEN_PATH = '/platform/oauth/token';
/** NICE's access-key token endpoint (JSON body `{accessKeyId, accessKeySecret}`). */
export const ACCESS_KEY_TOKEN_PATH = '/authentication/v1/token/access-key';

export interface SimulatorOptions {
  /** 0 = a random free port (tests). Default 0. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Seed of the fault PRNG. Default 42. */
  seed?: number;
  /** Default 'sim-client'. */
  clientId?: string;
  /** Default 'sim-secret'. */
  clientSecret?: string;
  /** Access key id: username of the password grant, `accessKeyId` of the access-key endpoint. Default 'sim-access-key'. */
  accessKeyId?: string;
  /** Access key secret: password of the password grant, `accessKeySecret` of the access-key endpoint. Default 'sim-access-secret'. */
  accessKeySecret?: string;
  /** Default 3600. */
  tokenLifetimeSeconds?: number;
  /** Fault profile per action id; key '*' is the default for any action. */
  profiles?: Record<string, FaultProfileInput>;
  /** The only tenant id the cxone-configuration discovery knows. Default 'sim'. */
  tenant?: string;
  /** Execute path template, as CXONE_EXECUTE_PATH. Default `/api/v2/data-actions/{actionId}/execute`. */
  executePath?: string;
  /** How many recent calls are kept for GET /__sim/calls. Default 1000. */
  recentCallsLimit?: number;
  /**
   * How many X-Request-Ids have their attempts counted (`fail_first`, GET /__sim/attempts); past
   * it the oldest id is forgotten, so a long-running simulator does not grow. Default 1,000,000.
   */
  maxRequestIds?: number;
}

export interface ResolvedSimulatorOptions {
  port: number;
  host: string;
  seed: number;
  clientId: string;
  clientSecret: string;
  accessKeyId: string;
  accessKeySecret: string;
  tokenLifetimeSeconds: number;
  profiles: Map<string, FaultProfile>;
  tenant: string;
  executePrefix: string;
  executeSuffix: string;
  recentCallsLimit: number;
  maxRequestIds: number;
}

export function resolveSimulatorOptions(options: SimulatorOptions = {}): ResolvedSimulatorOptions {
  const port = options.port ?? 0;
  checkNumber(port, 'port', { min: 0, max: 65_535, integer: true });
  const seed = options.seed ?? 42;
  checkNumber(seed, 'seed', { min: -(2 ** 53), max: 2 ** 53, integer: true });
  const tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3600;
  checkNumber(tokenLifetimeSeconds, 'tokenLifetimeSeconds', {
    min: 0,
    max: MAX_TOKEN_LIFETIME_SECONDS,
    integer: true,
  });
  const recentCallsLimit = options.recentCallsLimit ?? 1000;
  checkNumber(recentCallsLimit, 'recentCallsLimit', { min: 0, max: 1_000_000, integer: true });
  const maxRequestIds = options.maxRequestIds ?? 1_000_000;
  checkNumber(maxRequestIds, 'maxRequestIds', { min: 1, max: 100_000_000, integer: true });
  const [executePrefix, executeSuffix] = splitExecutePath(
    options.executePath ?? DEFAULT_EXECUTE_PATH,
  );
  return {
    port,
    host: text(options.host, 'host', '127.0.0.1'),
    seed,
    clientId: text(options.clientId, 'clientId', 'sim-client'),
    clientSecret: text(options.clientSecret, 'clientSecret', 'sim-secret'),
    accessKeyId: text(options.accessKeyId, 'accessKeyId', 'sim-access-key'),
    accessKeySecret: text(options.accessKeySecret, 'accessKeySecret', 'sim-access-secret'),
    tokenLifetimeSeconds,
    profiles: parseProfileMap(options.profiles ?? {}),
    tenant: text(options.tenant, 'tenant', 'sim'),
    executePrefix,
    executeSuffix,
    recentCallsLimit,
    maxRequestIds,
  };
}

/** Validates a `{ "<action id>" | "*": profile }` map, naming the faulty entry. */
export function parseProfileMap(input: unknown): Map<string, FaultProfile> {
  if (!isPlainObject(input)) {
    throw new SimulatorInputError('profiles', `must be an object of profiles by action id`);
  }
  const result = new Map<string, FaultProfile>();
  for (const [actionId, profile] of Object.entries(input)) {
    try {
      result.set(checkActionId(actionId), parseFaultProfile(profile));
    } catch (error) {
      throw withFieldPrefix(error, `profiles[${JSON.stringify(actionId)}].`);
    }
  }
  return result;
}

export function checkActionId(actionId: string): string {
  if (actionId === '' || actionId.length > 1024) {
    throw new SimulatorInputError('action id', 'must be 1..1024 characters');
  }
  return actionId;
}

function splitExecutePath(template: string): [string, string] {
  const at = template.indexOf('{actionId}');
  if (
    !template.startsWith('/') ||
    template.includes('?') ||
    at < 0 ||
    template.indexOf('{actionId}', at + 1) >= 0
  ) {
    throw new SimulatorInputError(
      'executePath',
      `must start with / and contain {actionId} once (got ${describe(template)})`,
    );
  }
  return [template.slice(0, at), template.slice(at + '{actionId}'.length)];
}

function text(value: string | undefined, field: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') {
    throw new SimulatorInputError(field, `must be a non-empty string (got ${describe(value)})`);
  }
  return value;
}
