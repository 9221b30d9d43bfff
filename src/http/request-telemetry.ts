import type { Span } from '@opentelemetry/api';
import type { TraceContext } from '../lib/trace-context.js';

const KEY = Symbol('requestTelemetry');

/** What the service knows about one incoming request, attached to it by `HttpTelemetry`. */
export class RequestTelemetry {
  /** Route template of the handler that served it; unset if it never reached one. */
  route: string | undefined;
  /** The batch the request created or read; goes to its log line. */
  batchId: string | undefined;
  /** The caller its API key named; goes to its log line (never the key). */
  caller: string | undefined;

  constructor(
    /** The request's trace context: its span as the parent of work done for it. */
    readonly trace: TraceContext,
    readonly span: Span | undefined,
    /** performance.now() when the request arrived. */
    readonly startedAt: number,
  ) {}

  handledAs(route: string): void {
    this.route = route;
  }

  attachTo(request: object): void {
    (request as { [KEY]?: RequestTelemetry })[KEY] = this;
  }
}

export function requestTelemetryOf(request: object): RequestTelemetry | undefined {
  return (request as { [KEY]?: RequestTelemetry })[KEY];
}
