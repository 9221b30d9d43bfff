import {
  type Context,
  defaultTextMapGetter,
  isSpanContextValid,
  ROOT_CONTEXT,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { randomBytes, randomFillSync } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * The W3C trace context work runs in: a batch (stored with it, so a run on another replica
 * joins the same trace) and every CXone call made for it. The one definition of it,
 * with its W3C parsing and formatting.
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

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

// Random bytes are drawn in blocks: one syscall per 512 span ids instead of one per id.
const POOL_IDS = 512;
const pool = Buffer.allocUnsafe(POOL_IDS * 8);
let poolOffset = pool.length;

/** A random 64-bit span id as 16 lowercase hex digits, never all zeros. */
export function randomSpanId(_attempt?: unknown): string {
  for (;;) {
    if (poolOffset === pool.length) {
      randomFillSync(pool);
      poolOffset = 0;
    }
    const id = pool.toString('hex', poolOffset, poolOffset + 8);
    poolOffset += 8;
    if (id !== ZERO_SPAN_ID) return id;
  }
}

export function isValidTraceId(traceId: string): boolean {
  return TRACE_ID.test(traceId) && traceId !== ZERO_TRACE_ID;
}

export function isValidSpanId(spanId: string): boolean {
  return SPAN_ID.test(spanId) && spanId !== ZERO_SPAN_ID;
}

const TRACE_FLAGS = /^[0-9a-f]{2}$/;

/** W3C trace flags of the caller's context: its own, else sampled unless said otherwise. */
export function traceFlags(context: TraceContext): string {
  const flags = context.traceFlags;
  if (flags !== undefined && TRACE_FLAGS.test(flags)) return flags;
  return context.sampled === false ? '00' : '01';
}

/** `00-<trace id>-<span id>-<flags>` (W3C Trace Context, version 00). */
export function traceparent(traceId: string, spanId: string, flags: string): string {
  return `00-${traceId}-${spanId}-${flags}`;
}

export function flagsOf(value: number): string {
  return value === 1 ? '01' : value.toString(16).padStart(2, '0');
}

const propagator = new W3CTraceContextPropagator();

/** The caller's W3C context (`traceparent`/`tracestate`), or undefined when absent or invalid. */
export function callerContext(headers: IncomingHttpHeaders): Context {
  return propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
}

/**
 * The trace a request's work joins when no span is recorded for the request: the caller's
 * (its span as the parent), or a new trace. An invalid `traceparent` is ignored (W3C).
 */
export function traceContextFromHeaders(headers: IncomingHttpHeaders): TraceContext {
  const caller = trace.getSpanContext(callerContext(headers));
  if (caller === undefined || !isSpanContextValid(caller)) {
    return { traceId: randomBytes(16).toString('hex'), traceFlags: '01' };
  }
  const traceState = caller.traceState?.serialize();
  return {
    traceId: caller.traceId,
    parentSpanId: caller.spanId,
    traceFlags: flagsOf(caller.traceFlags),
    ...(traceState ? { traceState } : {}),
  };
}
