import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { ValidationFailedError, type FieldError } from '../../lib/domain-error.js';
import { MAX_PAYLOAD_DEPTH, tooDeep } from '../../lib/json-depth.js';
import { flattenValidationErrors } from '../../http/validation.js';
import type { AppConfig } from '../../config/app-config.js';
import { CallbackHostPolicy } from '../../callback/core/address-policy.js';
import type { ParsedBatch } from '../core/batch.types.js';
import { ExecuteBatchDto } from './batch.dto.js';

const MAX_REPORTED_ITEM_ERRORS = 10;
const MAX_REPORTED_UNKNOWN_FIELDS = 10;
const MAX_FIELD_NAME_SHOWN = 64;

export { MAX_PAYLOAD_DEPTH };

/** The body's fields; any other is refused. `payloads` is checked apart from the rest. */
const SCALAR_FIELDS = [
  'action_id',
  'chunk_size',
  'max_workers',
  'timeout_ms',
  'cache_ttl_seconds',
  'callback_url',
  'tolerated_failure_percent',
  'tolerated_failure_count',
] as const;
const KNOWN_FIELDS: ReadonlySet<string> = new Set([...SCALAR_FIELDS, 'payloads']);

function shownName(field: string): string {
  return field.length > MAX_FIELD_NAME_SHOWN ? `${field.slice(0, MAX_FIELD_NAME_SHOWN)}…` : field;
}

/**
 * Validates a `POST /batch/execute` body. Unknown fields are refused by name before anything is
 * transformed, so only the known scalar fields reach class-transformer and class-validator; the
 * payloads are checked in one plain loop, so 100,000 items are not copied by class-transformer.
 */
export function parseExecuteBatch(body: unknown, config: AppConfig): ParsedBatch {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationFailedError([{ field: 'body', message: 'must be a JSON object' }]);
  }
  const record = body as Record<string, unknown>;
  const errors: FieldError[] = Object.keys(record)
    .filter((field) => !KNOWN_FIELDS.has(field))
    .slice(0, MAX_REPORTED_UNKNOWN_FIELDS)
    .map((field) => ({
      field: shownName(field),
      message: `property ${shownName(field)} should not exist`,
    }));
  const scalars: Record<string, unknown> = {};
  for (const field of SCALAR_FIELDS) {
    if (Object.hasOwn(record, field)) scalars[field] = record[field];
  }
  const payloads = Object.hasOwn(record, 'payloads') ? record.payloads : undefined;
  const dto = plainToInstance(ExecuteBatchDto, { ...scalars, payloads: [] });
  errors.push(...flattenValidationErrors(validateSync(dto, { forbidUnknownValues: false })));

  const { maxItems, maxWorkersPerBatch } = config.batch;
  if (!Array.isArray(payloads)) {
    errors.push({
      field: 'payloads',
      message: payloads === undefined ? 'is required' : 'must be an array',
    });
  } else if (payloads.length === 0) {
    errors.push({ field: 'payloads', message: 'must contain at least 1 item' });
  } else if (payloads.length > maxItems) {
    errors.push({
      field: 'payloads',
      message: `must contain at most ${maxItems} items (MAX_BATCH_ITEMS)`,
    });
  } else {
    let reported = 0;
    for (let index = 0; index < payloads.length && reported < MAX_REPORTED_ITEM_ERRORS; index++) {
      const item: unknown = payloads[index];
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        errors.push({ field: `payloads[${index}]`, message: 'must be a JSON object' });
        reported += 1;
      } else if (tooDeep(item, MAX_PAYLOAD_DEPTH) !== undefined) {
        errors.push({
          field: `payloads[${index}]`,
          message: `must not nest objects or arrays more than ${MAX_PAYLOAD_DEPTH} levels deep`,
        });
        reported += 1;
      }
    }
  }
  if (typeof dto.max_workers === 'number' && dto.max_workers > maxWorkersPerBatch) {
    errors.push({
      field: 'max_workers',
      message: `must not be greater than ${maxWorkersPerBatch}`,
    });
  }
  if (typeof dto.tolerated_failure_count === 'number' && dto.tolerated_failure_count > maxItems) {
    errors.push({
      field: 'tolerated_failure_count',
      message: `must not be greater than ${maxItems} (MAX_BATCH_ITEMS)`,
    });
  }
  if (typeof dto.callback_url === 'string') {
    const problem = new CallbackHostPolicy(config.callback.allowedHosts).intakeProblem(
      dto.callback_url,
    );
    if (problem) errors.push({ field: 'callback_url', message: problem });
  }
  if (errors.length > 0) throw new ValidationFailedError(errors);

  return {
    actionId: dto.action_id,
    payloads: payloads as Record<string, unknown>[],
    options: {
      chunkSize: dto.chunk_size ?? 10,
      maxWorkers: dto.max_workers ?? 4,
      timeoutMs: dto.timeout_ms ?? 15000,
      cacheTtlSeconds: dto.cache_ttl_seconds ?? 300,
      ...(dto.callback_url ? { callbackUrl: dto.callback_url } : {}),
      ...(typeof dto.tolerated_failure_percent === 'number'
        ? { toleratedFailurePercent: dto.tolerated_failure_percent }
        : {}),
      ...(typeof dto.tolerated_failure_count === 'number'
        ? { toleratedFailureCount: dto.tolerated_failure_count }
        : {}),
    },
  };
}
