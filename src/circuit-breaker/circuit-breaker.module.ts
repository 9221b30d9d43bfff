import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { RedisConnection } from '../redis/redis.connection.js';
import { CircuitsController } from './api/circuits.controller.js';
import { CircuitBreakerOptions } from './circuit-breaker.options.js';
import { CircuitBreaker } from './circuit-breaker.service.js';
import { CircuitStateStore } from './circuit-state.store.js';
import { InMemoryCircuitStateStore } from './memory/in-memory-circuit-state.store.js';
import { RedisCircuitStateStore } from './redis/redis-circuit-state.store.js';

/**
 * The breaker per action id, and the routes that show and force it (`/circuits`). State is in
 * memory by default, and shared by every replica in Redis when REDIS_URL is set (the global
 * RedisModule then provides the connection).
 */
@Module({
  controllers: [CircuitsController],
  providers: [
    CircuitBreaker,
    CircuitBreakerOptions,
    {
      provide: CircuitStateStore,
      useFactory: (config: AppConfig, redis?: RedisConnection): CircuitStateStore =>
        redis ? new RedisCircuitStateStore(redis, config) : new InMemoryCircuitStateStore(),
      inject: [AppConfig, { token: RedisConnection, optional: true }],
    },
  ],
  exports: [CircuitBreaker, CircuitStateStore],
})
export class CircuitBreakerModule {}
