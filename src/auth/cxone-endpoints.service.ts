import { Injectable, Logger } from '@nestjs/common';
import { DomainError } from '../lib/domain-error.js';
import { AppConfig } from '../config/app-config.js';
import { AuthHttpError, requestJson, stringField } from './auth.http.js';
import { FailureBackoff, sleep } from './failure-backoff.js';
import { TokenManagerOptions } from './token-manager.options.js';

export interface CxoneEndpointUrls {
  /** Base URL of the API, no trailing slash. */
  apiUrl: string;
  tokenUrl: string;
}

/**
 * The API base URL and the token URL: from configuration, or discovered once through
 * CXONE_ISSUER's well-known documents when neither URL is configured, or (access-key grant
 * without CXONE_API_URL) the API base learnt from the first token answer. Discovery is shared
 * by all callers (one request pair at a time) and not cached when it fails: the next caller
 * tries again after a backoff.
 */
@Injectable()
export class CxoneEndpoints {
  private readonly logger = new Logger(CxoneEndpoints.name);
  private resolved: CxoneEndpointUrls | undefined;
  private pending: Promise<CxoneEndpointUrls> | undefined;
  private readonly backoff: FailureBackoff;
  private readonly configuredTokenUrl: string | undefined;

  constructor(
    private readonly config: AppConfig,
    private readonly options: TokenManagerOptions,
  ) {
    const { apiUrl, tokenUrl } = config.cxone;
    if (apiUrl !== undefined && tokenUrl !== undefined) this.resolved = { apiUrl, tokenUrl };
    this.configuredTokenUrl = tokenUrl;
    this.backoff = new FailureBackoff(options.failureBackoffInitialMs, options.failureBackoffMaxMs);
  }

  /** The endpoints if already known (the hot path), else undefined. */
  current(): CxoneEndpointUrls | undefined {
    return this.resolved;
  }

  /** The token URL, discovering it if needed. Rejects with an AUTH_FAILED DomainError. */
  async tokenUrl(): Promise<string> {
    return this.configuredTokenUrl ?? (await this.resolve()).tokenUrl;
  }

  /**
   * Resolves the endpoints, discovering them if needed. Rejects with an AUTH_FAILED DomainError,
   * also when the API base comes with a token and none has been obtained yet.
   */
  resolve(): Promise<CxoneEndpointUrls> {
    if (this.resolved !== undefined) return Promise.resolve(this.resolved);
    if (this.config.cxone.apiUrlFromToken) {
      return Promise.reject(
        new DomainError('AUTH_FAILED', 'The CXone API base URL comes with the first token'),
      );
    }
    this.pending ??= this.discover().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /**
   * The token answer's `resource_server_base_uri` (access-key grant without CXONE_API_URL). The
   * first valid one is kept: the tenant's API base does not move between tokens. Throws an
   * AUTH_FAILED DomainError while no API base is known and the answer carries none.
   */
  learnApiUrl(resourceServerBaseUri: string | undefined): void {
    if (!this.config.cxone.apiUrlFromToken || this.resolved !== undefined) return;
    if (resourceServerBaseUri === undefined || !isHttpUrl(resourceServerBaseUri)) {
      throw new DomainError(
        'AUTH_FAILED',
        'CXone token response has no valid resource_server_base_uri (set CXONE_API_URL)',
      );
    }
    const apiUrl = resourceServerBaseUri.replace(/\/+$/, '');
    this.resolved = { apiUrl, tokenUrl: this.configuredTokenUrl! };
    this.logger.log(`CXone API base from the token answer: ${apiUrl}`);
  }

  private async discover(): Promise<CxoneEndpointUrls> {
    const { issuer, tenant } = this.config.cxone;
    if (issuer === undefined) {
      throw new DomainError(
        'AUTH_FAILED',
        'CXone endpoints are not configured and CXONE_ISSUER is not set',
      );
    }
    if (tenant === undefined) {
      throw new DomainError('AUTH_FAILED', 'CXone discovery needs CXONE_TENANT');
    }
    const delay = this.backoff.delayMs(this.options.now());
    if (delay > 0) await sleep(delay);
    try {
      const [tokenUrl, apiUrl] = await Promise.all([
        this.wellKnown(`${issuer}/.well-known/openid-configuration`, 'token_endpoint'),
        this.wellKnown(
          `${issuer}/.well-known/cxone-configuration?tenantId=${encodeURIComponent(tenant)}`,
          'api_endpoint',
        ),
      ]);
      this.resolved = { apiUrl: apiUrl.replace(/\/+$/, ''), tokenUrl };
      this.backoff.succeeded();
      this.logger.log(`CXone endpoints discovered: API ${this.resolved.apiUrl}, token ${tokenUrl}`);
      return this.resolved;
    } catch (error) {
      this.backoff.failed(this.options.now());
      const reason = error instanceof AuthHttpError ? error.message : 'unexpected error';
      this.logger.warn(`CXone discovery through ${issuer} failed: ${reason}`);
      throw new DomainError('AUTH_FAILED', `CXone discovery failed: ${reason}`);
    }
  }

  private async wellKnown(url: string, field: string): Promise<string> {
    const answer = await requestJson(url, { method: 'GET' }, this.options.requestTimeoutMs);
    const path = new URL(url).pathname;
    if (answer.status !== 200) throw new AuthHttpError(`${path} answered HTTP ${answer.status}`);
    const value = stringField(answer.body, field);
    if (value === undefined || !isHttpUrl(value)) {
      throw new AuthHttpError(`${path} has no valid ${field}`);
    }
    return value;
  }
}

function isHttpUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}
