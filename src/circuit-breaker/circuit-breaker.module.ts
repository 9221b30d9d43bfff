import { Module } from '@nestjs/common';
import { CircuitBreakerOptions } from './circuit-breaker.options.js';
import { CircuitBreaker } from './circuit-breaker.service.js';
import { CircuitStateStore } from './circuit-state.store.js';
import { InMemoryCircuitStateStore } from './in-memory-circuit-state.store.js';

/** The breaker per action id, with its state in this process's memory. */
@Module({
  providers: [
    CircuitBreaker,
    CircuitBreakerOptions,
    { provide: CircuitStateStore, useClass: InMemoryCircuitStateStore },
  ],
  exports: [CircuitBreaker, CircuitStateStore],
})
export class CircuitBreakerModule {}
