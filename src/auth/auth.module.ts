import { Module } from '@nestjs/common';
import { CxoneEndpoints } from './cxone-endpoints.service.js';
import { TokenManager } from './token-manager.service.js';
import { TokenManagerOptions } from './token-manager.options.js';

/** The CXone access token and endpoint discovery. Needs `AppConfig` from the global config module. */
@Module({
  providers: [TokenManager, CxoneEndpoints, TokenManagerOptions],
  exports: [TokenManager, CxoneEndpoints],
})
export class AuthModule {}
