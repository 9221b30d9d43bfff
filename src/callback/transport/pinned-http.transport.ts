import { Injectable, Optional, type OnApplicationShutdown } from '@nestjs/common';
import { lookup } from 'node:dns/promises';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { AppConfig } from '../../config/app-config.js';
import { bareHost, CallbackHostPolicy, refusalOf } from '../core/address-policy.js';
import { CallbackTransport, type PostOutcome } from '../core/callback-transport.js';

/** Resolves a host name to its addresses, in the order a connection would try them. */
export class HostResolver {
  async resolve(hostname: string): Promise<string[]> {
    const found = await lookup(hostname, { all: true, order: 'verbatim' });
    return found.map(({ address }) => address);
  }
}

/** A receiver's Retry-After (seconds or an HTTP date) in seconds; undefined if absent or malformed. */
export function retryAfterSeconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/**
 * Whether NO_PROXY exempts `host` (a name or address) on `port`: `*`, a host (also matching its
 * subdomains), `.domain` or `*.domain`, each optionally with `:port`.
 */
export function bypassesProxy(host: string, port: number, noProxy: string | undefined): boolean {
  for (const raw of (noProxy ?? '').toLowerCase().split(/[\s,]+/)) {
    if (raw === '') continue;
    if (raw === '*') return true;
    const portAt = raw.lastIndexOf(':');
    const hasPort = portAt > 0 && /^\d+$/.test(raw.slice(portAt + 1)) && !raw.includes('::');
    if (hasPort && Number(raw.slice(portAt + 1)) !== port) continue;
    const entry = bareHost(hasPort ? raw.slice(0, portAt) : raw).replace(/^\*?\./, '');
    if (host === entry || host.endsWith(`.${entry}`)) return true;
  }
  return false;
}

function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return code && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
}

/**
 * Sends callbacks over node:http and node:https, so that the address checked is the address
 * connected to: the host is resolved once per attempt, every address it resolves to is checked
 * (one refused address refuses the attempt: a name may not mix public and private answers), and
 * the request goes to the first address as an IP literal, with the name in `Host` and as the TLS
 * server name (certificate checked against the name). Nothing resolves the name a second time, so
 * DNS rebinding between the check and the connection changes nothing. Behind HTTP(S)_PROXY the
 * proxy is asked for the checked address too (`CONNECT 203.0.113.7:443`). Redirects are answers
 * like any other: never followed.
 */
@Injectable()
export class PinnedHttpTransport extends CallbackTransport implements OnApplicationShutdown {
  private readonly policy: CallbackHostPolicy;
  private readonly proxied: { http?: HttpAgent; https?: HttpsAgent } = {};

  constructor(
    private readonly config: AppConfig,
    @Optional() private readonly resolver: HostResolver = new HostResolver(),
  ) {
    super();
    this.policy = new CallbackHostPolicy(config.callback.allowedHosts);
    const proxy = config.proxy;
    if (proxy?.HTTP_PROXY)
      this.proxied.http = new HttpAgent({ proxyEnv: { HTTP_PROXY: proxy.HTTP_PROXY } });
    if (proxy?.HTTPS_PROXY)
      this.proxied.https = new HttpsAgent({ proxyEnv: { HTTPS_PROXY: proxy.HTTPS_PROXY } });
  }

  onApplicationShutdown(): void {
    this.proxied.http?.destroy();
    this.proxied.https?.destroy();
  }

  async post(
    url: string,
    headers: Record<string, string>,
    body: string,
    signal: AbortSignal,
  ): Promise<PostOutcome> {
    const target = new URL(url);
    const host = bareHost(target.hostname);
    const literal = isIP(host) !== 0;
    const allowed = this.policy.isAllowed(host);
    if (target.protocol !== 'https:' && !allowed) {
      // Accepted while CALLBACK_ALLOWED_HOSTS named the host; it no longer does.
      return {
        kind: 'refused',
        reason: `refused: plain http only for hosts in CALLBACK_ALLOWED_HOSTS, and ${host} is not one; no connection was made`,
      };
    }
    let addresses: string[];
    try {
      addresses = literal ? [host] : await abortable(this.resolver.resolve(host), signal);
    } catch (error) {
      if (signal.aborted) return { kind: 'unreachable', reason: 'aborted while resolving' };
      return { kind: 'unreachable', reason: `could not resolve ${host}: ${reasonOf(error)}` };
    }
    if (addresses.length === 0)
      return { kind: 'unreachable', reason: `could not resolve ${host}: no address` };
    if (!allowed) {
      for (const address of addresses) {
        const refusal = refusalOf(address);
        if (refusal === undefined) continue;
        const what = literal ? refusal : `${host} resolves to ${refusal}`;
        return {
          kind: 'refused',
          reason: `refused: ${what}, which only hosts in CALLBACK_ALLOWED_HOSTS may receive; no connection was made`,
        };
      }
    }
    return this.send(target, host, addresses[0], headers, body, signal);
  }

  private send(
    target: URL,
    host: string,
    address: string,
    headers: Record<string, string>,
    body: string,
    signal: AbortSignal,
  ): Promise<PostOutcome> {
    const secure = target.protocol === 'https:';
    const port = target.port ? Number(target.port) : secure ? 443 : 80;
    const viaProxy =
      !bypassesProxy(host, port, this.config.proxy?.NO_PROXY) &&
      !bypassesProxy(address, port, this.config.proxy?.NO_PROXY);
    const proxyAgent = viaProxy ? (secure ? this.proxied.https : this.proxied.http) : undefined;
    // A proxy takes a plain http request in absolute form, whose authority must be the Host: it
    // gets the name. Plain http goes only to CALLBACK_ALLOWED_HOSTS, whose addresses are not
    // checked anyway; https, for any host, is tunnelled to the checked address.
    const connectTo = proxyAgent && !secure ? host : address;
    const options = {
      host: connectTo,
      port,
      method: 'POST',
      path: `${target.pathname}${target.search}`,
      headers: { ...headers, host: target.host, 'content-length': String(Buffer.byteLength(body)) },
      // A fresh connection per attempt (callbacks are few): nothing pooled outlives its check.
      agent: proxyAgent ?? false,
      ...(secure && isIP(host) === 0 ? { servername: host } : {}),
      signal,
    };
    return new Promise<PostOutcome>((resolve) => {
      const request = (secure ? httpsRequest : httpRequest)(
        options,
        (response: IncomingMessage) => {
          const retryAfter = retryAfterSeconds(response.headers['retry-after']);
          // The status is the answer; the body is not read.
          response.destroy();
          resolve({
            kind: 'answered',
            status: response.statusCode ?? 0,
            ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
          });
        },
      );
      request.once('error', (error) => resolve({ kind: 'unreachable', reason: reasonOf(error) }));
      request.end(body);
    }).catch((error: unknown) => ({ kind: 'unreachable', reason: reasonOf(error) }) as const);
  }
}

/** `promise`, or a rejection as soon as `signal` aborts (a DNS lookup cannot be cancelled). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
