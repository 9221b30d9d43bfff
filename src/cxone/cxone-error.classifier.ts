import { isAxiosError } from 'axios';
import { DomainError, type ErrorCode } from '../lib/domain-error.js';
import { RESPONSE_TOO_LARGE } from './transport/node-http.adapter.js';

export interface ClassifiedFailure {
  code: ErrorCode;
  message: string;
  upstreamStatus?: number;
}

/** CXone answered 2xx with a body that is not JSON. */
export class InvalidUpstreamJsonError extends Error {
  constructor(readonly status: number) {
    super(`CXone answered ${status} with a body that is not JSON`);
    this.name = 'InvalidUpstreamJsonError';
  }
}

const MAX_UPSTREAM_MESSAGE = 200;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]+/g;
const TIMEOUT_CODES: ReadonlySet<string> = new Set(['ETIMEDOUT', 'ECONNABORTED']);

/**
 * Maps whatever a CXone call threw to an item error code and a short, safe message
 * (the item error codes of docs/api.md). `redact` removes secrets from text CXone sent back.
 */
export function classifyFailure(
  error: unknown,
  attempts: number,
  redact: (text: string) => string = (text) => text,
): ClassifiedFailure {
  if (error instanceof InvalidUpstreamJsonError) {
    return { code: 'UPSTREAM_5XX', message: error.message, upstreamStatus: error.status };
  }
  if (error instanceof DomainError) return { code: error.code, message: error.message };
  if (!isAxiosError(error))
    return { code: 'INTERNAL', message: 'unexpected error in the CXone client' };

  const response = error.response;
  if (error.code === RESPONSE_TOO_LARGE) {
    const { status, limit } = error as { status?: number; limit?: number };
    return {
      code: 'RESPONSE_TOO_LARGE',
      message: `CXone's answer is larger than MAX_RESULT_BYTES (${limit ?? '?'} bytes); not kept`,
      upstreamStatus: status,
    };
  }
  if (response === undefined) {
    const code = error.code ?? 'unknown';
    if (code === 'ERR_CANCELED') return { code: 'CANCELLED', message: 'call cancelled' };
    if (TIMEOUT_CODES.has(code)) {
      const timeout = error.config?.timeout;
      return {
        code: 'TIMEOUT',
        message: timeout
          ? `CXone did not answer within ${timeout} ms`
          : 'CXone did not answer in time',
      };
    }
    return { code: 'NETWORK', message: `network error calling CXone (${safeCode(code)})` };
  }

  const status = response.status;
  const detail = upstreamDetail(response.data, redact);
  if (status === 429) {
    return {
      code: 'RATE_LIMITED',
      message: `CXone rate limit (429) persisted after ${attempts} attempt${attempts === 1 ? '' : 's'}${detail}`,
      upstreamStatus: status,
    };
  }
  if (status === 401 || status === 403) {
    return {
      code: 'AUTH_FAILED',
      message: `CXone refused ${status === 401 ? 'the token (401)' : 'access (403)'}${detail}`,
      upstreamStatus: status,
    };
  }
  if (status >= 400 && status <= 499) {
    return {
      code: 'UPSTREAM_4XX',
      message: `CXone answered ${status}${detail}`,
      upstreamStatus: status,
    };
  }
  if (status >= 500 && status <= 599) {
    return {
      code: 'UPSTREAM_5XX',
      message: `CXone answered ${status}${detail}`,
      upstreamStatus: status,
    };
  }
  return {
    code: 'UPSTREAM_5XX',
    message: `CXone answered unexpected status ${status}`,
    upstreamStatus: status,
  };
}

/**
 * `: <message>` from a JSON error body's `message` (or OAuth `error_description`), cleaned and
 * truncated; ` (non-JSON body)` when the body is not JSON; '' when there is nothing useful.
 */
function upstreamDetail(data: unknown, redact: (text: string) => string): string {
  let body = data;
  if (typeof data === 'string') {
    if (data.trim() === '') return '';
    try {
      body = JSON.parse(data);
    } catch {
      return ' (non-JSON body)';
    }
  }
  if (typeof body !== 'object' || body === null) return '';
  const record = body as Record<string, unknown>;
  const message = record.message ?? record.error_description ?? record.error;
  if (typeof message !== 'string') return '';
  // Control characters out (no forged log lines), whitespace squeezed, then truncated.
  const clean = redact(message.replace(CONTROL_CHARACTERS, ' ').replace(/\s+/g, ' ').trim());
  if (clean === '') return '';
  return `: ${clean.length > MAX_UPSTREAM_MESSAGE ? `${clean.slice(0, MAX_UPSTREAM_MESSAGE - 1)}…` : clean}`;
}

function safeCode(code: string): string {
  return /^[A-Z0-9_]{1,40}$/.test(code) ? code : 'unknown';
}
