import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { DomainError } from '../lib/domain-error.js';
import { callerOf } from './request-caller.js';

/**
 * Lets only callers named in ADMIN_CALLERS through; others get 403. Runs after the caller guard
 * (a global guard), so the caller is known.
 */
@Injectable()
export class AdminGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const caller = callerOf(context.switchToHttp().getRequest<Request>());
    if (caller?.admin) return true;
    throw new DomainError(
      'FORBIDDEN',
      `Caller ${caller?.name ?? 'unknown'} is not an admin caller.`,
      {
        errors: [
          { field: 'Authorization', message: 'must be the key of a caller in ADMIN_CALLERS' },
        ],
      },
    );
  }
}
