import { HttpModule } from '@nestjs/axios';
import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { ResultCacheModule } from '../cache/result-cache.module.js';
import { CircuitBreakerModule } from '../circuit-breaker/circuit-breaker.module.js';
import { AppConfig } from '../config/app-config.js';
import { CxoneClientOptions } from './cxone-client.options.js';
import { CxoneClient } from './cxone.client.js';
import { cxoneHttpOptions } from './cxone.http-config.js';

/**
 * Everything needed to call CXone: import it and inject `CxoneClient`. Also re-exports the
 * token manager, the circuit breaker and the result cache for metrics and health.
 * Needs `AppConfig` from the global config module.
 */
@Module({
  imports: [
    AuthModule,
    CircuitBreakerModule,
    ResultCacheModule,
    HttpModule.registerAsync({
      useFactory: (config: AppConfig) => cxoneHttpOptions(config),
      inject: [AppConfig],
    }),
  ],
  providers: [CxoneClient, CxoneClientOptions],
  exports: [CxoneClient, AuthModule, CircuitBreakerModule, ResultCacheModule],
})
export class CxoneModule {}
