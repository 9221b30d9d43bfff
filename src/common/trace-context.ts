import { randomBytes } from 'node:crypto';

/** The W3C trace context a batch runs in. */
export interface TraceContext {
  traceId: string;
  /** The caller's span, when the request carried a `traceparent`. */
  parentSpanId?: string;
  /** W3C trace flags, two hex digits ("01" = sampled). */
  traceFlags: string;
  traceState?: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const INVALID_TRACE_ID = '0'.repeat(32);
const INVALID_SPAN_ID = '0'.repeat(16);

export function newTraceId(): string {
  return randomBytes(16).toString('hex');
}

export function newSpanId(): string {
  return randomBytes(8).toString('hex');
}

/**
 * Parses `traceparent` (and `tracestate`) as W3C Trace Context says: an invalid header is ignored
 * and a new trace starts.
 */
export function traceContextFrom(traceparent?: string, tracestate?: string): TraceContext {
  const match = traceparent ? TRACEPARENT.exec(traceparent.trim().toLowerCase()) : null;
  if (!match) return { traceId: newTraceId(), traceFlags: '01' };
  const [, version, traceId, spanId, flags, rest] = match;
  const valid =
    version !== 'ff' &&
    traceId !== INVALID_TRACE_ID &&
    spanId !== INVALID_SPAN_ID &&
    (version !== '00' || rest === undefined);
  if (!valid) return { traceId: newTraceId(), traceFlags: '01' };
  return {
    traceId,
    parentSpanId: spanId,
    traceFlags: flags,
    ...(tracestate ? { traceState: tracestate } : {}),
  };
}
