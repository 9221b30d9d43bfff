import {
  SimulatorInputError,
  describe,
  isPlainObject,
  optionalNumber,
  rejectUnknownFields,
} from './simulator.validation.js';

export type OmittableTokenField = 'access_token' | 'expires_in' | 'resource_server_base_uri';
const OMITTABLE: ReadonlySet<string> = new Set([
  'access_token',
  'expires_in',
  'resource_server_base_uri',
]);

/** Wire shape of PUT /__sim/token and setTokenBehaviour(); it replaces the whole behaviour. */
export interface TokenBehaviourInput {
  lifetime_seconds?: number;
  fail_next?: number;
  fail_status?: number;
  fail_rate?: number;
  omit_fields?: OmittableTokenField[];
  latency_ms?: number;
}

export interface TokenBehaviourView {
  lifetime_seconds: number;
  fail_next: number;
  fail_status: number;
  fail_rate: number;
  omit_fields: OmittableTokenField[];
  latency_ms: number;
}

export interface TokenBehaviour {
  /** null: the simulator's tokenLifetimeSeconds option. */
  lifetimeSeconds: number | null;
  /** Counts down as token requests are failed. */
  failNext: number;
  failStatus: number;
  failRate: number;
  omitAccessToken: boolean;
  omitExpiresIn: boolean;
  /** Only the access-key endpoint answers this field. */
  omitResourceServerBaseUri: boolean;
  latencyMs: number;
}

export const MAX_TOKEN_LIFETIME_SECONDS = 31_536_000;

const FIELDS: ReadonlySet<string> = new Set([
  'lifetime_seconds',
  'fail_next',
  'fail_status',
  'fail_rate',
  'omit_fields',
  'latency_ms',
]);

export function defaultTokenBehaviour(): TokenBehaviour {
  return {
    lifetimeSeconds: null,
    failNext: 0,
    failStatus: 500,
    failRate: 0,
    omitAccessToken: false,
    omitExpiresIn: false,
    omitResourceServerBaseUri: false,
    latencyMs: 0,
  };
}

export function parseTokenBehaviour(input: unknown): TokenBehaviour {
  if (!isPlainObject(input)) {
    throw new SimulatorInputError(
      'token behaviour',
      `must be a JSON object (got ${describe(input)})`,
    );
  }
  rejectUnknownFields(input, FIELDS);
  const d = defaultTokenBehaviour();
  const omit = parseOmitFields(input.omit_fields);
  return {
    lifetimeSeconds:
      optionalNumber(input, 'lifetime_seconds', {
        min: 0,
        max: MAX_TOKEN_LIFETIME_SECONDS,
        integer: true,
      }) ?? d.lifetimeSeconds,
    failNext:
      optionalNumber(input, 'fail_next', { min: 0, max: 1_000_000, integer: true }) ?? d.failNext,
    failStatus:
      optionalNumber(input, 'fail_status', { min: 400, max: 599, integer: true }) ?? d.failStatus,
    failRate: optionalNumber(input, 'fail_rate', { min: 0, max: 1 }) ?? d.failRate,
    omitAccessToken: omit.has('access_token'),
    omitExpiresIn: omit.has('expires_in'),
    omitResourceServerBaseUri: omit.has('resource_server_base_uri'),
    latencyMs: optionalNumber(input, 'latency_ms', { min: 0, max: 600_000 }) ?? d.latencyMs,
  };
}

export function tokenBehaviourView(
  behaviour: TokenBehaviour,
  defaultLifetimeSeconds: number,
): TokenBehaviourView {
  const omit: OmittableTokenField[] = [];
  if (behaviour.omitAccessToken) omit.push('access_token');
  if (behaviour.omitExpiresIn) omit.push('expires_in');
  if (behaviour.omitResourceServerBaseUri) omit.push('resource_server_base_uri');
  return {
    lifetime_seconds: behaviour.lifetimeSeconds ?? defaultLifetimeSeconds,
    fail_next: behaviour.failNext,
    fail_status: behaviour.failStatus,
    fail_rate: behaviour.failRate,
    omit_fields: omit,
    latency_ms: behaviour.latencyMs,
  };
}

function parseOmitFields(value: unknown): Set<OmittableTokenField> {
  const result = new Set<OmittableTokenField>();
  if (value === undefined) return result;
  if (!Array.isArray(value)) {
    throw new SimulatorInputError('omit_fields', `must be an array (got ${describe(value)})`);
  }
  value.forEach((field: unknown, index) => {
    if (typeof field !== 'string' || !OMITTABLE.has(field)) {
      throw new SimulatorInputError(
        `omit_fields[${index}]`,
        `must be "access_token", "expires_in" or "resource_server_base_uri" (got ${describe(field)})`,
      );
    }
    result.add(field as OmittableTokenField);
  });
  return result;
}
