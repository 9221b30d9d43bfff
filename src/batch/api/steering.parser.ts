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

function validated<T extends object>(dto: T): FieldError[] {
  return flattenValidationErrors(
    validateSync(dto, { whitelist: true, forbidNonWhitelisted: true }),
  );
}

/** `PATCH /batch/{batch_id}`: the new `max_workers`, within MAX_WORKERS_PER_BATCH. */
export function parseRetune(body: unknown, config: AppConfig): number {
  const dto = plainToInstance(RetuneBatchDto, requireObject(body));
  const errors = validated(dto);
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
  const dto = plainToInstance(RedriveBatchDto, requireObject(body));
  const errors = validated(dto);
  if (errors.length > 0) throw new ValidationFailedError(errors);
  return dto.statuses ? [...new Set(dto.statuses)] : DEFAULT_REDRIVE_STATUSES;
}
