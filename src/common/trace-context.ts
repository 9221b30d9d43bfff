/**
 * The W3C trace context work runs in: a batch (stored with it, so a run on another replica
 * joins the same trace) and every CXone call made for it. The one definition of it; parsing
 * and span ids come from OpenTelemetry (`src/observability/tracing.service.ts`).
 */
export interface TraceContext {
  /** 32 lowercase hex digits. */
  traceId: string;
  /** The span the work is a child of (16 hex digits): the request's span, then the chunk's. */
  parentSpanId?: string;
  /** W3C trace flags, two lowercase hex digits ("01" = sampled); wins over `sampled`. */
  traceFlags?: string;
  /** Used when `traceFlags` is absent. Default true. */
  sampled?: boolean;
  /** W3C `tracestate`, forwarded unchanged. */
  traceState?: string;
}
