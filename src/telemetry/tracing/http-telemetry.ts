import { Injectable, Logger } from '@nestjs/common';
import { SpanStatusCode } from '@opentelemetry/api';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
import type { NextFunction, Request, Response } from 'express';
import { OrchestratorMetrics } from '../metrics/orchestrator-metrics.service.js';
import { RequestTelemetry } from '../../http/request-telemetry.js';
import { Tracing } from './tracing.service.js';

/**
 * True once the request logger (pino-http, a Nest middleware) has seen the request: it runs after
 * body parsing, so a request refused by it (400 unreadable JSON, 413, 415) never reaches it.
 */
function seenByRequestLogger(request: Request): boolean {
  return (request as { log?: unknown }).log !== undefined;
}

/** Route label of requests that matched no route (never the raw URL: unbounded cardinality). */
const UNMATCHED_ROUTE = 'unmatched';

/**
 * The Express route a request matched before being refused (e.g. 401 from the guard), or
 * `unmatched`; Nest's catch-all not-found route (`{/*splat}`) counts as unmatched.
 */
function matchedRoute(request: Request): string {
  const path = (request.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' && !path.includes('*') ? path : UNMATCHED_ROUTE;
}

/** Probes and scrapes: no span (they would bury the traces that matter). */
function isOperational(url: string): boolean {
  return url.startsWith('/health') || url.startsWith('/metrics');
}

/**
 * The first middleware of every request (installed by `createApp`, before body parsing): continues
 * the caller's W3C trace or starts one, opens the request's server span, and when the response
 * ends, closes it. Requests that never reached a handler (401 from the guard, 404, 413, 415) are
 * timed here; the others by `HttpLatencyInterceptor`, which knows their route template. Requests
 * refused before the request logger ran (body parsing: 400, 413, 415) get their log line here.
 */
@Injectable()
export class HttpTelemetry {
  private readonly logger = new Logger('HTTP');

  constructor(
    private readonly tracing: Tracing,
    private readonly metrics: OrchestratorMetrics,
  ) {}

  readonly middleware = (request: Request, response: Response, next: NextFunction): void => {
    const startedAt = performance.now();
    const url = request.url;
    const { span, trace } = this.tracing.startRequest(
      request.method,
      request.headers,
      !isOperational(url),
    );
    const telemetry = new RequestTelemetry(trace, span, startedAt);
    telemetry.attachTo(request);

    let done = false;
    const end = (): void => {
      if (done) return;
      done = true;
      const status = response.headersSent ? response.statusCode : 0;
      const failed = status >= 500 || status === 0;
      const route = telemetry.route ?? matchedRoute(request);
      if (telemetry.route === undefined) {
        this.metrics.recordHttpRequest(
          request.method,
          route,
          status,
          (performance.now() - startedAt) / 1000,
        );
      }
      if (span !== undefined) {
        span.updateName(`${request.method} ${route}`);
        span.setAttributes({
          [ATTR_HTTP_REQUEST_METHOD]: request.method,
          [ATTR_HTTP_ROUTE]: route,
          [ATTR_URL_PATH]: request.path,
          [ATTR_HTTP_RESPONSE_STATUS_CODE]: status,
        });
        if (failed) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      }
      if (!seenByRequestLogger(request) && !isOperational(url)) {
        // The line pino-http would have written (the same serializers read req and res), so
        // every request has one.
        const line = {
          req: request,
          res: response,
          responseTime: Math.round(performance.now() - startedAt),
          trace_id: trace.traceId,
          ...(telemetry.caller === undefined ? {} : { caller: telemetry.caller }),
        };
        if (failed) this.logger.error(line, 'request errored');
        else this.logger.log(line, 'request completed');
      }
    };
    response.once('finish', end);
    response.once('close', end);
    next();
  };
}
