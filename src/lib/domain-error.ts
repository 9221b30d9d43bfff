/** Stable error codes: on the wire as `error_code` (items) or as the problem `type` suffix (requests). */
export type ErrorCode =
  // downstream call outcomes (the item error codes of docs/api.md)
  | 'TIMEOUT'
  | 'CIRCUIT_OPEN'
  | 'RATE_LIMITED'
  | 'UPSTREAM_4XX'
  | 'UPSTREAM_5XX'
  | 'AUTH_FAILED'
  | 'NETWORK'
  | 'CANCELLED'
  | 'RESPONSE_TOO_LARGE'
  | 'INTERNAL'
  // request-level errors
  | 'VALIDATION_FAILED'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BATCH_NOT_FOUND'
  | 'BATCH_FINISHED'
  | 'BATCH_UNFINISHED'
  | 'NOTHING_TO_REDRIVE'
  | 'IDEMPOTENCY_CONFLICT'
  | 'INTAKE_SATURATED'
  | 'CALLER_RATE_LIMITED'
  | 'CALLER_QUEUE_FULL'
  | 'NOT_READY'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE';

export interface FieldError {
  field: string;
  message: string;
}

/** An error the service understands; the problem-details filter maps its code to an HTTP status. */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { errors?: FieldError[]; retryAfterSeconds?: number } = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export class ValidationFailedError extends DomainError {
  constructor(errors: FieldError[]) {
    super('VALIDATION_FAILED', errors.map((e) => `${e.field}: ${e.message}`).join('; '), {
      errors,
    });
  }
}
