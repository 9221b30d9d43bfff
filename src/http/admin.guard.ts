import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { AppConfig } from '../config/app-config.js';
import { DomainError } from '../lib/domain-error.js';

/**
 * The caller a request was authenticated as. Every API key is still the caller `default`'s (a
 * bare key), and with AUTH_DISABLED every request is `anonymous`'s.
 */
export function callerOf(_request: Request, config: AppConfig): string {
  return config.auth.disabled ? 'anonymous' : 'default';
}

/**
 * Lets only callers named in ADMIN_CALLERS through; others get 403. Runs after the API-key
 * guard (a global guard), so the caller is known.
 */
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(private readonly config: AppConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const caller = callerOf(context.switchToHttp().getRequest<Request>(), this.config);
    if (this.config.auth.adminCallers.includes(caller)) return true;
    throw new DomainError('FORBIDDEN', `Caller ${caller} is not an admin caller.`, {
      errors: [{ field: 'Authorization', message: 'must be the key of a caller in ADMIN_CALLERS' }],
    });
  }
}
