import { randomFillSync } from 'node:crypto';
import type { AttemptInfo, TraceContext } from './cxone.types.js';

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

// Random bytes are drawn in blocks: one syscall per 512 span ids instead of one per id.
const POOL_IDS = 512;
const pool = Buffer.allocUnsafe(POOL_IDS * 8);
let poolOffset = pool.length;

/** A random 64-bit span id as 16 lowercase hex digits, never all zeros. */
export function randomSpanId(_attempt?: AttemptInfo): string {
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
