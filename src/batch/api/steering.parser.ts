import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { ValidationFailedError, type FieldError } from '../../lib/domain-error.js';
import { flattenValidationErrors } from '../../http/validation.js';
import type { AppConfig } from '../../config/app-config.js';
import { DEFAULT_REDRIVE_STATUSES, type RedrivableStatus } from '../core/batch.types.js';
import { RedriveBatchDto, RetuneBatchDto } from './batch.dto.js';

function requireObject(body: unknown): object {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationFailedError([{ field: 'body', message: 'must be a JSON object' }]);
  }
  return body;
}

/**
 * The body's known fields, to be transformed; the others refused by name as the validator would.
 * Transformed, an unknown field would be copied deep by class-transformer, which throws (a 500) on
 * a `constructor` key inside it, e.g. in the `payloads` of a body sent to the wrong route.
 */
function knownFields(
  body: object,
  known: readonly string[],
): { fields: Record<string, unknown>; unknown: FieldError[] } {
  const fields: Record<string, unknown> = {};
  const unknown: FieldError[] = [];
  for (const [key, value] of Object.entries(body)) {
    if (known.includes(key)) fields[key] = value;
    else unknown.push({ field: key, message: `property ${key} should not exist` });
  }
  return { fields, unknown };
}

function validated<T extends object>(dto: T): FieldError[] {
  return flattenValidationErrors(
    validateSync(dto, { whitelist: true, forbidNonWhitelisted: true }),
  );
}

/** `PATCH /batch/{batch_id}`: the new `max_workers`, within MAX_WORKERS_PER_BATCH. */
export function parseRetune(body: unknown, config: AppConfig): number {
  const { fields, unknown } = knownFields(requireObject(body), ['max_workers']);
  const dto = plainToInstance(RetuneBatchDto, fields);
  const errors = [...unknown, ...validated(dto)];
  const { maxWorkersPerBatch } = config.batch;
  if (Number.isInteger(dto.max_workers) && dto.max_workers > maxWorkersPerBatch) {
    errors.push({
      field: 'max_workers',
      message: `must not be greater than ${maxWorkersPerBatch} (MAX_WORKERS_PER_BATCH)`,
    });
  }
  if (errors.length > 0) throw new ValidationFailedError(errors);
  return dto.max_workers;
}

/** `POST /batch/{batch_id}/redrive`: the outcomes to run again; no body, the default ones. */
export function parseRedrive(body: unknown): readonly RedrivableStatus[] {
  if (body === undefined) return DEFAULT_REDRIVE_STATUSES;
  const { fields, unknown } = knownFields(requireObject(body), ['statuses']);
  const dto = plainToInstance(RedriveBatchDto, fields);
  const errors = [...unknown, ...validated(dto)];
  if (errors.length > 0) throw new ValidationFailedError(errors);
  return dto.statuses ? [...new Set(dto.statuses)] : DEFAULT_REDRIVE_STATUSES;
}
