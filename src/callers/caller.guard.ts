import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { IS_PUBLIC } from '../http/public.decorator.js';
import { callerOf, unauthorized } from './request-caller.js';

/**
 * Every handler not marked `@Public()` needs a caller. The key was checked before the body was
 * read (`Authenticator`); this guard is the second lock, for a route whose path the middleware
 * took for a public one.
 */
@Injectable()
export class CallerGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic) return true;
    const request = context.switchToHttp().getRequest<Request>();
    if (callerOf(request)) return true;
    throw unauthorized(request.headers.authorization !== undefined);
  }
}
