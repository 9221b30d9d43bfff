import type { BatchMeta, BatchSummary, ItemOutcome } from './batch.types.js';
import type { TraceContext } from '../../lib/trace-context.js';

/** One chunk of a run: the trace context its items' CXone calls carry, and their outcomes. */
export interface ChunkTelemetry {
  /** Passed to every CXone call of the chunk (the chunk's span is their parent). */
  readonly traceContext: TraceContext;
  /** `items` of the chunk will run (those without an outcome yet); 0 ends it at once. */
  expect(items: number): void;
  itemDone(index: number, outcome: ItemOutcome): void;
}

/** One run of a batch in this process (a resumed batch has several, maybe on several replicas). */
export interface RunTelemetry {
  /** The batch went from queued to running. */
  started(): void;
  chunk(start: number, end: number): ChunkTelemetry;
  /** The batch ended (completed, cancelled or failed) with this summary. */
  finished(meta: BatchMeta, summary: BatchSummary): void;
  /** The run is over, whether or not the batch finished (handed back, interrupted). */
  close(): void;
}

/**
 * What the batch layer reports as batches move: spans (run, chunk), metrics (items by outcome,
 * batches by status) and one log line per transition. Bound to `OtelBatchTelemetry` by the
 * observability module; without it, `noopBatchTelemetry`.
 */
export abstract class BatchTelemetry {
  abstract accepted(meta: BatchMeta): void;
  /** The finished batch is queued again with `items` of its items back to pending. */
  abstract redriven(meta: BatchMeta, items: number): void;
  abstract openRun(meta: BatchMeta): RunTelemetry;
}

/** The trace context of a batch's CXone calls when nobody records spans: the stored one. */
export function storedTraceContext(meta: BatchMeta): TraceContext {
  return {
    traceId: meta.traceId,
    parentSpanId: meta.parentSpanId,
    traceFlags: meta.traceFlags ?? '01',
    ...(meta.traceState ? { traceState: meta.traceState } : {}),
  };
}

class NoopRun implements RunTelemetry, ChunkTelemetry {
  readonly traceContext: TraceContext;
  constructor(meta: BatchMeta) {
    this.traceContext = storedTraceContext(meta);
  }
  started(): void {}
  chunk(): ChunkTelemetry {
    return this;
  }
  expect(): void {}
  itemDone(): void {}
  finished(): void {}
  close(): void {}
}

class NoopBatchTelemetry extends BatchTelemetry {
  accepted(): void {}
  redriven(): void {}
  openRun(meta: BatchMeta): RunTelemetry {
    return new NoopRun(meta);
  }
}

export const noopBatchTelemetry: BatchTelemetry = new NoopBatchTelemetry();
