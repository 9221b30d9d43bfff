import { createHash, timingSafeEqual } from 'node:crypto';
import {
  Injectable,
  Logger,
  type CanActivate,
  type ExecutionContext,
  type OnModuleInit,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { AppConfig } from '../config/app-config.js';
import { DomainError } from '../lib/domain-error.js';
import { IS_PUBLIC } from './public.decorator.js';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * Checks `Authorization: Bearer <key>` against API_KEYS. Keys are compared as SHA-256 digests with
 * `timingSafeEqual`, so neither the content nor the length of a key leaks through timing.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate, OnModuleInit {
  private readonly keyDigests: Buffer[];

  constructor(
    private readonly reflector: Reflector,
    private readonly config: AppConfig,
  ) {
    this.keyDigests = config.auth.apiKeys.map(digest);
  }

  onModuleInit(): void {
    if (this.config.auth.disabled) {
      new Logger('Security').warn(
        '!!! AUTH_DISABLED=true: every route is open to anyone who can reach this port. Never run it like this in production. !!!',
      );
    }
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.config.auth.disabled) return true;
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic) return true;

    const header = context.switchToHttp().getRequest<Request>().headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match)
      throw new DomainError(
        'UNAUTHORIZED',
        'Missing bearer API key (Authorization: Bearer <key>).',
      );
    const presented = digest(match[1]);
    let valid = false;
    for (const key of this.keyDigests) valid = timingSafeEqual(presented, key) || valid;
    if (!valid) throw new DomainError('UNAUTHORIZED', 'The API key is not valid.');
    return true;
  }
}
