import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { Caller } from '../lib/caller.js';
import { DomainError } from '../lib/domain-error.js';

const CALLER = Symbol('caller');

export function attachCaller(request: object, caller: Caller): void {
  (request as { [CALLER]?: Caller })[CALLER] = caller;
}

/** The caller the authentication middleware found for the request, if any. */
export function callerOf(request: object): Caller | undefined {
  return (request as { [CALLER]?: Caller })[CALLER];
}

export function unauthorized(presentedKey: boolean): DomainError {
  return presentedKey
    ? new DomainError('UNAUTHORIZED', 'The API key is not valid.')
    : new DomainError('UNAUTHORIZED', 'Missing bearer API key (Authorization: Bearer <key>).');
}

/** The request's caller, for a handler that needs one (never undefined: the guard ran first). */
export const CurrentCaller = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Caller => {
    const request = context.switchToHttp().getRequest<Request>();
    const caller = callerOf(request);
    if (!caller) throw unauthorized(request.headers.authorization !== undefined);
    return caller;
  },
);
