import { Injectable } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { requestTelemetryOf } from '../http/request-telemetry.js';
import { CallerKeys } from './caller-keys.js';
import { attachCaller, unauthorized } from './request-caller.js';

/**
 * Paths open without a key: probes, metrics, the API documentation and the console page (the
 * console sends its user's key with each API call it makes). Matched as the path itself or a
 * path below it.
 */
export const PUBLIC_PATHS = ['/health', '/metrics', '/docs', '/docs-json', '/console'] as const;

export function isPublicPath(path: string): boolean {
  return PUBLIC_PATHS.some((open) => path === open || path.startsWith(`${open}/`));
}

function hasBody(request: Request): boolean {
  return (
    request.headers['transfer-encoding'] !== undefined ||
    Number(request.headers['content-length'] ?? 0) > 0
  );
}

/**
 * Finds the request's caller from its key, before anything reads the body (installed ahead of the
 * body parser by `createApp`): a request without a valid key is answered `401` at once, so an
 * unauthenticated upload is neither buffered nor parsed nor inflated. The answer closes the
 * connection, so the client stops sending what nobody will read.
 */
@Injectable()
export class Authenticator {
  constructor(private readonly keys: CallerKeys) {}

  readonly middleware = (request: Request, response: Response, next: NextFunction): void => {
    const authorization = request.headers.authorization;
    const caller = this.keys.identify(authorization);
    if (caller) {
      attachCaller(request, caller);
      const telemetry = requestTelemetryOf(request);
      if (telemetry) telemetry.caller = caller.name;
      next();
      return;
    }
    if (isPublicPath(request.path)) {
      next();
      return;
    }
    response.setHeader('WWW-Authenticate', 'Bearer');
    if (hasBody(request)) response.setHeader('Connection', 'close');
    next(unauthorized(authorization !== undefined));
  };
}
