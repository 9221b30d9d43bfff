import { Injectable, Logger } from '@nestjs/common';
import { DomainError } from '../lib/domain-error.js';
import { AppConfig } from '../config/app-config.js';
import { AuthHttpError, oauthErrorCode, requestJson, stringField } from './auth.http.js';
import { CxoneEndpoints } from './cxone-endpoints.service.js';
import { FailureBackoff, sleep } from './failure-backoff.js';
import { TokenManagerOptions } from './token-manager.options.js';

interface CachedToken {
  value: string;
  /** From here on, callers still get this token but a refresh starts in the background. */
  refreshAt: number;
  /** From here on the token is not used. */
  expiresAt: number;
  obtainedAt: number;
  /** Obtained because the previous token was refused. */
  forced: boolean;
}

/** How a token request ended; called synchronously, must be cheap and must not throw. */
export type TokenRefreshListener = (result: 'success' | 'failure') => void;

/**
 * The CXone access token: obtained with the configured grant (docs/cxone-tenant.md), cached,
 * refreshed TOKEN_REFRESH_SKEW_SECONDS before it expires, one request at a time whatever the
 * number of callers. Inside the skew window callers keep the still-valid token while the
 * refresh runs in the background, so a slow or failing token endpoint does not stall calls
 * until the token really expires. A failed request is not cached: the next caller tries
 * again after a backoff (250 ms doubling to 10 s by default).
 *
 * Secrets and tokens never appear in a log line or an error message.
 */
@Injectable()
export class TokenManager {
  private readonly logger = new Logger(TokenManager.name);
  private current: CachedToken | undefined;
  private flight: Promise<string> | undefined;
  private nextIsForced = false;
  private readonly backoff: FailureBackoff;
  private readonly skewMs: number;
  private readonly refreshListeners: TokenRefreshListener[] = [];

  constructor(
    private readonly config: AppConfig,
    private readonly endpoints: CxoneEndpoints,
    private readonly options: TokenManagerOptions,
  ) {
    this.backoff = new FailureBackoff(options.failureBackoffInitialMs, options.failureBackoffMaxMs);
    this.skewMs = config.cxone.tokenRefreshSkewSeconds * 1000;
  }

  /** The cached token when it needs no refresh yet (synchronous hot path), else undefined. */
  peek(): string | undefined {
    const token = this.current;
    return token !== undefined && this.options.now() < token.refreshAt ? token.value : undefined;
  }

  /** A valid token. Rejects with an AUTH_FAILED DomainError when none can be obtained. */
  getToken(): Promise<string> {
    const token = this.current;
    if (token !== undefined) {
      const now = this.options.now();
      if (now < token.refreshAt) return Promise.resolve(token.value);
      if (now < token.expiresAt) {
        this.refresh().catch(() => undefined); // failure already logged; retried by a later caller
        return Promise.resolve(token.value);
      }
    }
    return this.refresh();
  }

  /**
   * CXone refused `token` (401): drop it so the next `getToken` fetches a new one. No effect
   * when another token has replaced it meanwhile, or when it was itself obtained by a forced
   * refresh less than `forcedRefreshMinIntervalMs` ago. Returns whether it was dropped.
   */
  invalidate(token: string): boolean {
    const current = this.current;
    if (current === undefined || current.value !== token) return false;
    if (
      current.forced &&
      this.options.now() - current.obtainedAt < this.options.forcedRefreshMinIntervalMs
    ) {
      return false;
    }
    this.current = undefined;
    this.nextIsForced = true;
    return true;
  }

  /** Subscribes to the end of every token request (metrics). Returns the unsubscribe function. */
  onRefresh(listener: TokenRefreshListener): () => void {
    this.refreshListeners.push(listener);
    return () => {
      const at = this.refreshListeners.indexOf(listener);
      if (at >= 0) this.refreshListeners.splice(at, 1);
    };
  }

  private refresh(): Promise<string> {
    this.flight ??= this.fetchToken().finally(() => {
      this.flight = undefined;
    });
    return this.flight;
  }

  private async fetchToken(): Promise<string> {
    const delay = this.backoff.delayMs(this.options.now());
    if (delay > 0) await sleep(delay);
    const forced = this.nextIsForced;
    const startedAt = this.options.now();
    try {
      const tokenUrl = await this.endpoints.tokenUrl();
      const { value, lifetimeMs, resourceServerBaseUri } = await this.request(tokenUrl);
      this.endpoints.learnApiUrl(resourceServerBaseUri);
      // Never refresh earlier than half-way, so a short-lived token is not refreshed on every call.
      const skewMs = Math.min(this.skewMs, lifetimeMs / 2);
      this.current = {
        value,
        refreshAt: startedAt + lifetimeMs - skewMs,
        expiresAt: startedAt + lifetimeMs,
        obtainedAt: startedAt,
        forced,
      };
      this.nextIsForced = false;
      this.backoff.succeeded();
      this.logger.debug(`CXone token obtained, valid ${Math.round(lifetimeMs / 1000)} s`);
      for (const listener of this.refreshListeners) listener('success');
      return value;
    } catch (error) {
      this.backoff.failed(this.options.now());
      const failure =
        error instanceof DomainError
          ? error
          : new DomainError('AUTH_FAILED', 'CXone token request failed: unexpected error');
      this.logger.warn(failure.message);
      for (const listener of this.refreshListeners) listener('failure');
      throw failure;
    }
  }

  private async request(tokenUrl: string): Promise<TokenAnswer> {
    const { headers, body } = this.tokenRequest();
    let answer;
    try {
      answer = await requestJson(
        tokenUrl,
        { method: 'POST', headers, body },
        this.options.requestTimeoutMs,
      );
    } catch (error) {
      const reason = error instanceof AuthHttpError ? error.message : 'unexpected error';
      throw new DomainError('AUTH_FAILED', `CXone token request failed: ${reason}`);
    }
    if (answer.status < 200 || answer.status > 299) {
      const code = oauthErrorCode(answer.body);
      const detail = code === undefined ? '' : ` (${code})`;
      throw new DomainError(
        'AUTH_FAILED',
        `CXone token request failed: HTTP ${answer.status}${detail}`,
      );
    }
    const value = stringField(answer.body, 'access_token');
    if (value === undefined) {
      throw new DomainError('AUTH_FAILED', 'CXone token response has no access_token');
    }
    const expiresIn = seconds((answer.body as { expires_in?: unknown }).expires_in);
    if (expiresIn === undefined) {
      throw new DomainError('AUTH_FAILED', 'CXone token response has no valid expires_in');
    }
    return {
      value,
      lifetimeMs: expiresIn * 1000,
      resourceServerBaseUri: stringField(answer.body, 'resource_server_base_uri'),
    };
  }

  /** The token request of the configured grant: its headers and body. */
  private tokenRequest(): { headers: Record<string, string>; body: string } {
    const { cxone } = this.config;
    if (cxone.grantType === 'access_key') {
      // NICE's access-key endpoint takes JSON and no OAuth client.
      return {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          accessKeyId: cxone.accessKeyId ?? '',
          accessKeySecret: cxone.accessKeySecret ?? '',
        }),
      };
    }
    const form = new URLSearchParams();
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
    };
    if (cxone.grantType === 'password') {
      form.set('grant_type', 'password');
      form.set('username', cxone.accessKeyId ?? '');
      form.set('password', cxone.accessKeySecret ?? '');
    } else {
      form.set('grant_type', 'client_credentials');
      if (cxone.scope !== '') form.set('scope', cxone.scope);
    }
    if (cxone.clientAuth === 'basic') {
      // RFC 6749 section 2.3.1: each part form-urlencoded before joining.
      const pair = `${formEncode(cxone.clientId)}:${formEncode(cxone.clientSecret)}`;
      headers.authorization = `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
    } else {
      form.set('client_id', cxone.clientId);
      form.set('client_secret', cxone.clientSecret);
    }
    return { headers, body: form.toString() };
  }
}

interface TokenAnswer {
  value: string;
  lifetimeMs: number;
  /** Where the tenant's API is, as CXone's token answers say it. */
  resourceServerBaseUri?: string;
}

/** A positive number of seconds, as a JSON number or a numeric string. */
function seconds(value: unknown): number | undefined {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof number === 'number' && Number.isFinite(number) && number > 0 ? number : undefined;
}

function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+');
}
