import type { ValidationError } from 'class-validator';
import { ValidationFailedError, type FieldError } from '../lib/domain-error.js';

/** Flattens class-validator errors into `{field, message}` pairs with dotted paths (`payloads.3`). */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flattenValidationErrors(error.children ?? [], field)];
  });
}

export function toValidationError(errors: ValidationError[]): ValidationFailedError {
  return new ValidationFailedError(flattenValidationErrors(errors));
}
