import { Injectable, Logger } from '@nestjs/common';
import { AsyncResource } from 'node:async_hooks';
import { type Span, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { BatchMeta, BatchSummary, ItemOutcome } from '../../batch/core/batch.types.js';
import type { TraceContext } from '../../lib/trace-context.js';
import { OrchestratorMetrics } from '../metrics/orchestrator-metrics.service.js';
import {
  BatchTelemetry,
  type ChunkTelemetry,
  type RunTelemetry,
  storedTraceContext,
} from '../../batch/core/batch-telemetry.js';
import { ATTR } from './span-attributes.js';
import { Tracing } from './tracing.service.js';

const logger = new Logger('Batch');
/**
 * Batch lines have one shape wherever they are written (in the accepting request, in a run, in
 * a BullMQ worker): written outside any request's context, so without its bindings.
 */
const log = AsyncResource.bind((fields: object, message: string): void =>
  logger.log(fields, message),
);

function summaryFields(summary: BatchSummary): Record<string, number> {
  return {
    total: summary.total,
    successful: summary.successful,
    failed: summary.failed,
    degraded: summary.degraded,
    cancelled: summary.cancelled,
  };
}

function elapsedMs(from: string | null, to: string | null): number | undefined {
  if (from === null || to === null) return undefined;
  return Date.parse(to) - Date.parse(from);
}

class Chunk implements ChunkTelemetry {
  readonly traceContext: TraceContext;
  private pending = 0;
  private successful = 0;
  private failed = 0;
  private degraded = 0;
  private cached = 0;
  private ended = false;

  constructor(
    private readonly run: Run,
    private readonly span: Span,
  ) {
    this.traceContext = run.tracing.childContextOf(span);
    run.tracing.bind(this.traceContext, span);
  }

  expect(items: number): void {
    this.pending += items;
    if (this.pending === 0) this.end();
  }

  itemDone(index: number, outcome: ItemOutcome): void {
    this.run.itemDone(index, outcome, this.traceContext);
    if (outcome.status === 'success') {
      this.successful++;
      if (outcome.cached) this.cached++;
    } else if (outcome.status === 'failed') this.failed++;
    else if (outcome.status === 'degraded') this.degraded++;
    if (--this.pending === 0) this.end();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.run.chunkEnded(this);
    this.span.setAttributes({
      'batch.chunk.successful': this.successful,
      'batch.chunk.failed': this.failed,
      'batch.chunk.degraded': this.degraded,
      'batch.chunk.cached': this.cached,
    });
    this.span.end();
  }
}

class Run implements RunTelemetry {
  private readonly span: Span | undefined;
  private readonly fallback: TraceContext;
  private readonly chunks = new Set<Chunk>();
  /** Every chunk while tracing is off: metrics only, the stored trace context. */
  private readonly untraced: ChunkTelemetry;
  private done = false;

  constructor(
    readonly tracing: Tracing,
    private readonly metrics: OrchestratorMetrics,
    private readonly meta: BatchMeta,
  ) {
    this.fallback = storedTraceContext(meta);
    this.untraced = {
      traceContext: this.fallback,
      expect: () => undefined,
      itemDone: (index, outcome) => this.itemDone(index, outcome, this.fallback),
    };
    if (tracing.enabled) {
      // Child of the request that accepted the batch, rebuilt from the stored context: the
      // same whether the run is in this process or in a BullMQ worker on another replica.
      this.span = tracing.startSpan(
        'batch.run',
        SpanKind.INTERNAL,
        {
          [ATTR.batchId]: meta.batchId,
          [ATTR.actionId]: meta.actionId,
          'batch.items': meta.total,
          'batch.chunk_size': meta.options.chunkSize,
          'batch.max_workers': meta.options.maxWorkers,
        },
        this.fallback,
      );
    }
  }

  started(): void {
    const { meta } = this;
    this.metrics.recordBatch(meta.actionId, 'running');
    log(
      {
        event: 'batch.started',
        batch_id: meta.batchId,
        caller: meta.caller,
        trace_id: meta.traceId,
        action_id: meta.actionId,
        items: meta.total,
        queued_ms: Date.now() - Date.parse(meta.createdAt),
      },
      'Batch started',
    );
  }

  chunk(start: number, end: number): ChunkTelemetry {
    if (this.span === undefined) return this.untraced;
    const span = this.tracing.startSpan(
      'batch.chunk',
      SpanKind.INTERNAL,
      {
        [ATTR.batchId]: this.meta.batchId,
        [ATTR.actionId]: this.meta.actionId,
        'batch.chunk.start': start,
        'batch.chunk.end': end,
      },
      this.tracing.childContextOf(this.span),
    );
    const chunk = new Chunk(this, span);
    this.chunks.add(chunk);
    return chunk;
  }

  chunkEnded(chunk: Chunk): void {
    this.chunks.delete(chunk);
  }

  itemDone(index: number, outcome: ItemOutcome, parent: TraceContext): void {
    this.metrics.recordItem(this.meta.actionId, outcome);
    // An item that made no CXone call (cache hit, open circuit) has no attempt span: this
    // zero-length span says why it took no call.
    if (outcome.attempts === 0 && this.span !== undefined) {
      const attributes: Record<string, string | number | boolean> = {
        [ATTR.actionId]: this.meta.actionId,
        [ATTR.itemIndex]: index,
        [ATTR.attempt]: 0,
        [ATTR.cached]: outcome.cached === true,
        [ATTR.outcome]:
          outcome.status === 'success'
            ? 'success'
            : (outcome.reason ?? outcome.errorCode ?? outcome.status),
      };
      if (outcome.errorCode === 'CIRCUIT_OPEN' || outcome.reason === 'circuit_open_fallback') {
        attributes[ATTR.circuitState] = 'open';
      }
      this.tracing.startSpan('cxone.execute', SpanKind.INTERNAL, attributes, parent).end();
    }
  }

  finished(meta: BatchMeta, summary: BatchSummary): void {
    this.done = true;
    const status =
      meta.status === 'cancelled' || meta.status === 'failed' ? meta.status : 'completed';
    const runMs = elapsedMs(meta.startedAt, meta.finishedAt);
    this.metrics.recordCancelledItems(meta.actionId, summary.cancelled);
    this.metrics.recordBatch(meta.actionId, status, runMs === undefined ? undefined : runMs / 1000);
    log(
      {
        event: `batch.${status}`,
        batch_id: meta.batchId,
        caller: meta.caller,
        trace_id: meta.traceId,
        action_id: meta.actionId,
        status,
        ...(meta.failureReason ? { failure_reason: meta.failureReason } : {}),
        summary: summaryFields(summary),
        duration_ms: runMs ?? 0,
        total_ms: elapsedMs(meta.createdAt, meta.finishedAt),
      },
      `Batch ${status}`,
    );
    this.span?.setAttributes({
      'batch.status': status,
      'batch.successful': summary.successful,
      'batch.failed': summary.failed,
      'batch.degraded': summary.degraded,
      'batch.cancelled': summary.cancelled,
    });
  }

  close(): void {
    for (const chunk of [...this.chunks]) chunk.end();
    if (this.span === undefined) return;
    if (!this.done) {
      this.span.setAttribute('batch.status', 'interrupted');
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: 'run ended before the batch' });
    }
    this.span.end();
  }
}

/** Spans, metrics and transition log lines of batches, with OpenTelemetry and pino. */
@Injectable()
export class OtelBatchTelemetry extends BatchTelemetry {
  constructor(
    private readonly tracing: Tracing,
    private readonly metrics: OrchestratorMetrics,
  ) {
    super();
  }

  accepted(meta: BatchMeta): void {
    this.metrics.recordBatch(meta.actionId, 'queued');
    log(
      {
        event: 'batch.accepted',
        batch_id: meta.batchId,
        caller: meta.caller,
        trace_id: meta.traceId,
        action_id: meta.actionId,
        items: meta.total,
      },
      'Batch accepted',
    );
  }

  redriven(meta: BatchMeta, items: number): void {
    this.metrics.recordBatch(meta.actionId, 'queued');
    log(
      {
        event: 'batch.redriven',
        batch_id: meta.batchId,
        trace_id: meta.traceId,
        action_id: meta.actionId,
        items,
        redrive_count: meta.redriveCount ?? 0,
      },
      'Batch redriven',
    );
  }

  openRun(meta: BatchMeta): RunTelemetry {
    return new Run(this.tracing, this.metrics, meta);
  }
}
