import type { AxiosError, AxiosInstance, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import type { CxoneCall } from './cxone-call.context.js';
import type { AttemptListener, SpanIdSource } from './cxone.types.js';
import { traceparent } from '../lib/trace-context.js';

/**
 * Times every attempt and tells the listeners (the batch layer, metrics). Installed first:
 * axios runs request interceptors last-installed-first, so its request side runs just before
 * the request is sent, and its response side runs before the client decides on a retry.
 */
export function installLatencyInterceptor(
  axios: AxiosInstance,
  listeners: readonly AttemptListener[],
): void {
  const finish = (call: CxoneCall, status: number, errorCode: string | undefined): void => {
    call.lastLatencyMs = Math.round((performance.now() - call.attemptStartedAt) * 10) / 10;
    call.lastStatus = status;
    call.lastErrorCode = errorCode;
    if (listeners.length === 0) return;
    const record = {
      actionId: call.actionId,
      requestId: call.requestId,
      traceId: call.traceContext.traceId,
      spanId: call.spanId,
      attempt: call.attempts,
      status,
      errorCode,
      latencyMs: call.lastLatencyMs,
    };
    for (const listener of listeners) listener(record);
  };

  axios.interceptors.request.use(
    (config: InternalAxiosRequestConfig) => {
      const call = config.cxoneCall;
      if (call !== undefined) call.attemptStartedAt = performance.now();
      return config;
    },
    null,
    { synchronous: true },
  );
  axios.interceptors.response.use(
    (response: AxiosResponse) => {
      const call = response.config.cxoneCall;
      if (call !== undefined) finish(call, response.status, undefined);
      return response;
    },
    (error: AxiosError) => {
      const call = error.config?.cxoneCall;
      if (call !== undefined) {
        const status = error.response?.status ?? 0;
        finish(call, status, status === 0 ? error.code : undefined);
      }
      throw error;
    },
  );
}

/**
 * Stamps every attempt with the W3C `traceparent` (the caller's trace id, a fresh span id),
 * `X-Span-Id`, and counts attempts. `X-Request-Id`, `X-Trace-Id` and `Authorization` are set
 * per call by the client, as they do not change between attempts.
 */
export function installTracingInterceptor(
  axios: AxiosInstance,
  spanIdSource: () => SpanIdSource,
): void {
  axios.interceptors.request.use(
    (config: InternalAxiosRequestConfig) => {
      const call = config.cxoneCall;
      if (call === undefined) return config;
      call.attempts++;
      const spanId = spanIdSource()(call);
      call.spanId = spanId;
      config.headers.set('traceparent', traceparent(call.traceContext.traceId, spanId, call.flags));
      config.headers.set('X-Span-Id', spanId);
      return config;
    },
    null,
    { synchronous: true },
  );
}
