import type { HttpModuleOptions } from '@nestjs/axios';
import type { AppConfig } from '../config/app-config.js';
import { undiciAdapter } from './undici.adapter.js';

const identity = (data: unknown): unknown => data;
/** Largest CXone answer accepted; a bigger one fails the call instead of exhausting memory. */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/**
 * The axios instance for CXone: undici's keep-alive pool bounded by CXONE_MAX_CONCURRENCY, bodies
 * sent as the client serialised them and received as text (the client parses them, so a
 * non-JSON answer is classified instead of crashing), no redirects (a bearer token is never
 * forwarded to another host), timeouts reported as ETIMEDOUT.
 */
export function cxoneHttpOptions(config: AppConfig): HttpModuleOptions {
  return {
    adapter: undiciAdapter({
      connections: config.cxone.maxConcurrency,
      maxResponseBytes: MAX_RESPONSE_BYTES,
    }),
    maxRedirects: 0,
    responseType: 'text',
    responseEncoding: 'utf8',
    transformRequest: [identity],
    transformResponse: [identity],
    maxContentLength: MAX_RESPONSE_BYTES,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    transitional: { clarifyTimeoutError: true, silentJSONParsing: true, forcedJSONParsing: false },
  };
}
