import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { ValidationFailedError, type FieldError } from '../../lib/domain-error.js';
import { flattenValidationErrors } from '../../http/validation.js';
import type { AppConfig } from '../../config/app-config.js';
import { CallbackHostPolicy } from '../../callback/core/address-policy.js';
import type { ParsedBatch } from '../core/batch.types.js';
import { ExecuteBatchDto } from './batch.dto.js';

const MAX_REPORTED_ITEM_ERRORS = 10;
/**
 * Deepest nesting of objects and arrays in a payload (the payload itself is level 1). JSON.parse
 * takes any depth, but serialising and hashing a payload thousands of levels deep would overflow
 * the stack: such a payload is refused here rather than failing later.
 */
export const MAX_PAYLOAD_DEPTH = 100;

/** Whether `root` holds objects or arrays nested more than `limit` levels (iterative: any depth). */
function nestedDeeperThan(root: object, limit: number): boolean {
  const pending: object[] = [root];
  const depths: number[] = [1];
  while (pending.length > 0) {
    const value = pending.pop() as object;
    const depth = depths.pop() as number;
    for (const key in value) {
      const child = (value as Record<string, unknown>)[key];
      if (typeof child !== 'object' || child === null) continue;
      if (depth + 1 > limit) return true;
      pending.push(child);
      depths.push(depth + 1);
    }
  }
  return false;
}

/**
 * Validates a `POST /batch/execute` body. The scalar fields go through class-validator; the
 * payloads are checked in one plain loop, so 100,000 items are not copied by class-transformer.
 */
export function parseExecuteBatch(body: unknown, config: AppConfig): ParsedBatch {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationFailedError([{ field: 'body', message: 'must be a JSON object' }]);
  }
  const { payloads, ...scalars } = body as Record<string, unknown>;
  const dto = plainToInstance(ExecuteBatchDto, { ...scalars, payloads: [] });
  const errors: FieldError[] = flattenValidationErrors(
    validateSync(dto, { whitelist: true, forbidNonWhitelisted: true }),
  );

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
      } else if (nestedDeeperThan(item, MAX_PAYLOAD_DEPTH)) {
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
