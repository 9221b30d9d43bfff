import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants.js';
import type { Request, Response } from 'express';
import { type Observable, tap } from 'rxjs';
import { requestTelemetryOf } from '../../http/request-telemetry.js';
import { OrchestratorMetrics } from './orchestrator-metrics.service.js';

function joinPath(...parts: unknown[]): string {
  const segments = parts
    .flatMap((part) => (Array.isArray(part) ? part.slice(0, 1) : [part]))
    .filter((part): part is string => typeof part === 'string')
    .map((part) => part.replace(/^\/+|\/+$/g, ''))
    .filter((part) => part.length > 0);
  return `/${segments.join('/')}`;
}

/**
 * Times every request that reaches one of the service's handlers into
 * http_server_request_duration_seconds, labelled with the route template
 * (`/batch/:batch_id/status`, never the raw URL) and the status code actually sent, after the
 * exception filter. Also names the request's span after the route and notes the batch id for
 * the request's log line. (Requests refused before a handler, e.g. 401 or 404, are timed by
 * `HttpTelemetry`.)
 */
@Injectable()
export class HttpLatencyInterceptor implements NestInterceptor {
  private readonly routes = new WeakMap<object, string>();

  constructor(private readonly metrics: OrchestratorMetrics) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const http = context.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<Response>();
    const route = this.routeOf(context);
    const telemetry = requestTelemetryOf(request);
    const startedAt = telemetry?.startedAt ?? performance.now();
    if (telemetry !== undefined) telemetry.handledAs(route);
    const batchId = request.params?.batch_id;
    if (telemetry !== undefined && typeof batchId === 'string') telemetry.batchId = batchId;

    response.once('finish', () => {
      const seconds = (performance.now() - startedAt) / 1000;
      this.metrics.recordHttpRequest(request.method, route, response.statusCode, seconds);
    });
    if (telemetry === undefined) return next.handle();
    return next.handle().pipe(
      tap((body) => {
        const created = (body as { batch_id?: unknown } | undefined)?.batch_id;
        if (typeof created === 'string') telemetry.batchId = created;
      }),
    );
  }

  private routeOf(context: ExecutionContext): string {
    const handler = context.getHandler();
    let route = this.routes.get(handler);
    if (route === undefined) {
      route = joinPath(
        Reflect.getMetadata(PATH_METADATA, context.getClass()),
        Reflect.getMetadata(PATH_METADATA, handler),
      );
      this.routes.set(handler, route);
    }
    return route;
  }
}
