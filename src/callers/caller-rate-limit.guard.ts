import { Injectable, type ExecutionContext } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';
import { DomainError } from '../lib/domain-error.js';
import { callerOf } from './request-caller.js';

/** The one named limit: CALLER_RATE_LIMIT. */
export const CALLER_THROTTLER = 'caller';
/** The window the limit is counted over: twice the rate per second in it is the burst allowed. */
export const RATE_WINDOW_MS = 2000;

/**
 * CALLER_RATE_LIMIT on the routes it guards (`@UseGuards(CallerRateLimit)`): counted per caller,
 * across all those routes together (the throttler's default counts per IP and per handler), and
 * refused as a `429` problem with `Retry-After`.
 */
@Injectable()
export class CallerRateLimit extends ThrottlerGuard {
  protected override getTracker(request: Record<string, unknown>): Promise<string> {
    return Promise.resolve(callerOf(request)?.name ?? '');
  }

  protected override generateKey(
    _context: ExecutionContext,
    tracker: string,
    name: string,
  ): string {
    return `${name}:${tracker}`;
  }

  protected override throwThrottlingException(
    _context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const perSecond = Math.round((detail.limit * 1000) / detail.ttl);
    throw new DomainError(
      'CALLER_RATE_LIMITED',
      `This caller sent more than CALLER_RATE_LIMIT (${perSecond} requests per second, bursts of ${detail.limit}); retry after ${detail.timeToBlockExpire} s.`,
      { retryAfterSeconds: Math.max(1, detail.timeToBlockExpire) },
    );
  }
}
