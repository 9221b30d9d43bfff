import { CacheModule } from '@nestjs/cache-manager';
import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ResultCache } from './result-cache.service.js';
import { createResultCacheStores } from './result-cache.store.js';

/** The result cache and its stale copies. Needs `AppConfig` from the global config module. */
@Module({
  imports: [
    CacheModule.registerAsync({
      useFactory: (config: AppConfig) => ({ stores: createResultCacheStores(config) }),
      inject: [AppConfig],
    }),
  ],
  providers: [ResultCache],
  exports: [ResultCache],
})
export class ResultCacheModule {}
