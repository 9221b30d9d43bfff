import {
  Catch,
  HttpException,
  HttpStatus,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError, type ErrorCode, type FieldError } from '../lib/domain-error.js';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, type ProblemDetails } from './problem-details.js';

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  BATCH_NOT_FOUND: 404,
  BATCH_FINISHED: 409,
  BATCH_UNFINISHED: 409,
  NOTHING_TO_REDRIVE: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_CONFLICT: 422,
  INTAKE_SATURATED: 429,
  CALLER_RATE_LIMITED: 429,
  CALLER_QUEUE_FULL: 429,
  NOT_READY: 503,
};

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  503: 'NOT_READY',
};

/** Errors thrown by body-parser before a route runs: their `type` names what it refused. */
interface BodyParserError {
  type?: unknown;
  /** http-errors' fields, on an error body-parser passes on from the stream (zlib's). */
  status?: unknown;
  expose?: unknown;
}

interface BodyProblem {
  status: number;
  code: ErrorCode;
  detail: string;
  errors: FieldError[];
}

const INCOMPLETE_BODY: BodyProblem = {
  status: 400,
  code: 'VALIDATION_FAILED',
  detail: 'The request body was incomplete.',
  errors: [{ field: 'body', message: 'is incomplete' }],
};

/** What body-parser refuses, by its error `type`: a problem naming the part of the request at fault. */
const BODY_PARSER_PROBLEMS = new Map<string, BodyProblem>(
  Object.entries({
    'entity.parse.failed': {
      status: 400,
      code: 'VALIDATION_FAILED',
      detail: 'The request body is not valid JSON.',
      errors: [{ field: 'body', message: 'is not valid JSON' }],
    },
    'entity.too.large': {
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
      detail: 'The request body exceeds MAX_BODY_BYTES.',
      errors: [{ field: 'body', message: 'exceeds MAX_BODY_BYTES' }],
    },
    'encoding.unsupported': {
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
      detail: 'Unsupported body encoding or charset.',
      errors: [{ field: 'Content-Encoding', message: 'is not supported' }],
    },
    'charset.unsupported': {
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
      detail: 'Unsupported body encoding or charset.',
      errors: [{ field: 'Content-Type', message: 'names a charset that is not supported' }],
    },
    'request.aborted': INCOMPLETE_BODY,
    'request.size.invalid': INCOMPLETE_BODY,
  }),
);

/**
 * A body that does not inflate as its Content-Encoding says: body-parser passes zlib's error on
 * with a 4xx status and no `type`.
 */
const UNDECODABLE_BODY: BodyProblem = {
  status: 400,
  code: 'VALIDATION_FAILED',
  detail: 'The request body could not be decoded as its Content-Encoding says.',
  errors: [{ field: 'Content-Encoding', message: 'does not match the body' }],
};

/** The problem for a body-parser error: thrown as it is, or as the `cause` Nest's HttpException wraps. */
function bodyParserProblemOf(exception: unknown): BodyProblem | undefined {
  const parserError = (exception instanceof HttpException ? exception.cause : exception) as
    BodyParserError | undefined;
  const type = parserError?.type;
  if (typeof type === 'string') return BODY_PARSER_PROBLEMS.get(type);
  const status = parserError?.status;
  if (parserError?.expose === true && typeof status === 'number' && status >= 400 && status < 500)
    return UNDECODABLE_BODY;
  return undefined;
}

function titleOf(status: number): string {
  const name = HttpStatus[status] as string | undefined;
  if (!name) return 'Error';
  return name
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join(' ');
}

/** Maps every error to RFC 9457 problem details; unknown errors become a logged 500 with no internals. */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemDetails');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const response = http.getResponse<Response>();
    const request = http.getRequest<Request>();
    const problem = this.toProblem(exception, request);
    if (problem.status >= 500 && !(exception instanceof DomainError)) {
      this.logger.error({ err: exception, path: request.path }, 'Unhandled error');
    }
    if (response.headersSent) return;
    if (exception instanceof DomainError && exception.details.retryAfterSeconds !== undefined) {
      response.setHeader('Retry-After', String(exception.details.retryAfterSeconds));
    }
    response.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  }

  private toProblem(exception: unknown, request: Request): ProblemDetails {
    const instance = request.originalUrl ?? request.url;
    const build = (
      status: number,
      code: ErrorCode,
      detail: string,
      errors?: FieldError[],
    ): ProblemDetails => ({
      type: `${PROBLEM_TYPE_BASE}${code.toLowerCase().replace(/_/g, '-')}`,
      title: titleOf(status),
      status,
      detail,
      instance,
      code,
      ...(errors ? { errors } : {}),
    });

    const parserProblem = bodyParserProblemOf(exception);
    if (parserProblem) {
      const { status, code, detail, errors } = parserProblem;
      return build(status, code, detail, errors);
    }
    if (exception instanceof DomainError) {
      const status = STATUS_BY_CODE[exception.code] ?? 502;
      return build(status, exception.code, exception.message, exception.details.errors);
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse();
      const message =
        typeof body === 'object' && body !== null && 'message' in body ? body.message : body;
      const detail = Array.isArray(message) ? message.join('; ') : String(message);
      return build(
        status,
        CODE_BY_STATUS[status] ?? (status >= 500 ? 'INTERNAL' : 'VALIDATION_FAILED'),
        detail,
      );
    }
    return build(500, 'INTERNAL', 'An unexpected error occurred. It has been logged.');
  }
}
