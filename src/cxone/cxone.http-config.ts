import type { HttpModuleOptions } from '@nestjs/axios';
import type { AxiosInstance } from 'axios';
import { outgoing } from './transport/turn-batch.js';
import { continuations } from './transport/turn-budget.js';
import type { AppConfig } from '../config/app-config.js';
import { nodeHttpAdapter } from './transport/node-http.adapter.js';

/**
 * The axios instance for CXone: node:http keep-alive agents bounded by CXONE_MAX_CONCURRENCY, bodies
 * sent as the client serialised them and received as text (the client parses them, so a
 * non-JSON answer is classified instead of crashing), no redirects (a bearer token is never
 * forwarded to another host), timeouts reported as ETIMEDOUT.
 */
export function cxoneHttpOptions(config: AppConfig): HttpModuleOptions {
  // MAX_RESULT_BYTES: a larger answer fails its item (RESPONSE_TOO_LARGE), read no further.
  const maxResponseBytes = config.batch.maxResultBytes;
  return {
    adapter: nodeHttpAdapter({
      connections: config.cxone.maxConcurrency,
      maxResponseBytes,
      handOn: continuations.run,
      dispatch: outgoing.run,
      ...(config.proxy ? { proxyEnv: config.proxy } : {}),
    }),
    maxRedirects: 0,
    responseType: 'text',
    // No transforms, rather than an identity function: axios normalises the headers once more
    // for every transform it calls.
    transformRequest: [],
    transformResponse: [],
    maxContentLength: maxResponseBytes,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
  };
}

/**
 * Defaults `axios.create` adds that no CXone call reads: browser XSRF names, the node:http
 * adapter's body limit and timeout default, FormData classes, parsing flags of the default JSON
 * transform. axios deep-merges every default into every request, so each one costs time per
 * call.
 */
const UNREAD_DEFAULTS = [
  'transitional',
  'xsrfCookieName',
  'xsrfHeaderName',
  'maxBodyLength',
  'env',
  'timeout',
] as const;

/** axios's per-method header groups (`common`, `post`, ...): CXone calls set their headers flat. */
const METHOD_HEADER_GROUPS = new Set([
  'common',
  'delete',
  'get',
  'head',
  'options',
  'post',
  'put',
  'patch',
  'purge',
  'link',
  'unlink',
  'query',
]);

/**
 * Drops from an instance's defaults what `cxoneHttpOptions` does not use (in place: the instance
 * holds the object it merges from). Headers keep only the flat ones the options set.
 */
export function trimAxiosDefaults(axios: AxiosInstance): void {
  const defaults = axios.defaults as unknown as Record<string, unknown>;
  for (const key of UNREAD_DEFAULTS) delete defaults[key];
  const headers = defaults.headers as Record<string, unknown>;
  defaults.headers = Object.fromEntries(
    Object.entries(headers).filter(([name]) => !METHOD_HEADER_GROUPS.has(name)),
  );
}
