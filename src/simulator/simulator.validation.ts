/** Thrown for a bad profile, token behaviour or option; `field` names the culprit. */
export class SimulatorInputError extends Error {
  override readonly name = 'SimulatorInputError';

  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super(`${field} ${detail}`);
  }
}

/** The same error with its field placed under `prefix` (e.g. `profiles["lookup"].`). */
export function withFieldPrefix(error: unknown, prefix: string): unknown {
  return error instanceof SimulatorInputError
    ? new SimulatorInputError(`${prefix}${error.field}`, error.detail)
    : error;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function rejectUnknownFields(
  input: Record<string, unknown>,
  allowed: ReadonlySet<string>,
  prefix = '',
): void {
  for (const key of Object.keys(input)) {
    if (!allowed.has(key)) {
      throw new SimulatorInputError(
        `${prefix}${key}`,
        `is not a known field (allowed: ${[...allowed].join(', ')})`,
      );
    }
  }
}

export interface NumberRule {
  min: number;
  max: number;
  integer?: boolean;
}

/** Reads an optional number field; `undefined` when absent, throws when present but wrong. */
export function optionalNumber(
  input: Record<string, unknown>,
  key: string,
  rule: NumberRule,
  prefix = '',
): number | undefined {
  const value = input[key];
  if (value === undefined) return undefined;
  checkNumber(value, `${prefix}${key}`, rule);
  return value as number;
}

export function checkNumber(value: unknown, field: string, rule: NumberRule): void {
  const kind = rule.integer ? 'an integer' : 'a number';
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    (rule.integer === true && !Number.isInteger(value)) ||
    value < rule.min ||
    value > rule.max
  ) {
    throw new SimulatorInputError(
      field,
      `must be ${kind} between ${rule.min} and ${rule.max} (got ${describe(value)})`,
    );
  }
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'nothing';
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}
