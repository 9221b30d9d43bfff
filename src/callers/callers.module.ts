import { Module, type DynamicModule } from '@nestjs/common';
import { ThrottlerModule, type ThrottlerModuleOptions } from '@nestjs/throttler';
import { AppConfig } from '../config/app-config.js';
import { RedisConnection } from '../redis/redis.connection.js';
import { Authenticator } from './authenticate.middleware.js';
import { CALLER_THROTTLER, CallerRateLimit, RATE_WINDOW_MS } from './caller-rate-limit.guard.js';
import { CallerGuard } from './caller.guard.js';
import { CallerKeys } from './caller-keys.js';
import { RedisThrottlerStorage } from './redis-throttler.storage.js';

function throttlerOptions(config: AppConfig, redis?: RedisConnection): ThrottlerModuleOptions {
  return {
    throttlers: [
      {
        name: CALLER_THROTTLER,
        ttl: RATE_WINDOW_MS,
        limit: (config.callers.rateLimitPerSecond * RATE_WINDOW_MS) / 1000,
        // A refused request is not counted and blocks nothing more: the window alone decides.
        blockDuration: 0,
      },
    ],
    // The throttler's own storage in one process; across replicas, the same window in Redis.
    ...(config.redis.url && redis ? { storage: new RedisThrottlerStorage(redis) } : {}),
  };
}

/**
 * Callers: who a request is (API keys, before the body is read), what it may do (the guard), and
 * how fast (CALLER_RATE_LIMIT through @nestjs/throttler).
 */
@Module({})
export class CallersModule {
  static register(): DynamicModule {
    return {
      module: CallersModule,
      imports: [
        ThrottlerModule.forRootAsync({
          useFactory: throttlerOptions,
          inject: [AppConfig, { token: RedisConnection, optional: true }],
        }),
      ],
      providers: [CallerKeys, Authenticator, CallerGuard, CallerRateLimit],
      exports: [CallerKeys, Authenticator, CallerGuard, CallerRateLimit],
    };
  }
}
