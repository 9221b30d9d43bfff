import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { requestTelemetryOf } from './request-telemetry.js';
import { traceContextFromHeaders } from '../lib/trace-context.js';

/**
 * The trace context of the request: its server span as the parent, in the caller's trace when
 * it sent `traceparent` (W3C), else in a new one.
 */
export const RequestTrace = createParamDecorator((_data: unknown, context: ExecutionContext) => {
  const request = context.switchToHttp().getRequest<Request>();
  return requestTelemetryOf(request)?.trace ?? traceContextFromHeaders(request.headers);
});
