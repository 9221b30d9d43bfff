import {
  type Attributes,
  type HrTime,
  type Link,
  type SpanContext,
  SpanKind,
  type SpanStatus,
  SpanStatusCode,
} from '@opentelemetry/api';
import { hrTimeDuration, type InstrumentationScope, millisToHrTime } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';

const NO_LINKS: Link[] = [];
const NO_EVENTS: TimedEvent[] = [];
const UNSET: SpanStatus = { code: SpanStatusCode.UNSET };
const ERROR: SpanStatus = { code: SpanStatusCode.ERROR };

/** Epoch milliseconds, sub-millisecond precision. */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The span of one CXone attempt, built directly as the finished `ReadableSpan` that span
 * processors and exporters take, instead of through the SDK's general-purpose `Span`.
 *
 * Why: an attempt is the hot path (thousands a second) and the SDK span costs several
 * microseconds each in validation, sampling and context lookups that an attempt does not need:
 * its attributes are ours and typed, it has no events or links, and it follows its chunk's
 * sampling decision (parent-based). The exported data is the same as the SDK's.
 */
export class AttemptSpan implements ReadableSpan {
  readonly name = 'cxone.attempt';
  readonly kind = SpanKind.CLIENT;
  readonly links = NO_LINKS;
  readonly events = NO_EVENTS;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  status = UNSET;
  ended = false;
  private readonly context: SpanContext;
  // Plain numbers while the span waits in the export queue; the HrTime pairs are built when an
  // exporter reads them, so a queued span holds less for the garbage collector to trace.
  private readonly startMs = nowMs();
  private endMs = this.startMs;

  constructor(
    readonly parentSpanContext: SpanContext,
    readonly id: string,
    readonly attributes: Attributes,
    readonly resource: Resource,
    readonly instrumentationScope: InstrumentationScope,
  ) {
    this.context = {
      traceId: parentSpanContext.traceId,
      spanId: id,
      traceFlags: parentSpanContext.traceFlags,
      traceState: parentSpanContext.traceState,
    };
  }

  spanContext(): SpanContext {
    return this.context;
  }

  get startTime(): HrTime {
    return millisToHrTime(this.startMs);
  }

  get endTime(): HrTime {
    return millisToHrTime(this.endMs);
  }

  get duration(): HrTime {
    return hrTimeDuration(this.startTime, this.endTime);
  }

  end(failed: boolean): void {
    this.endMs = nowMs();
    if (failed) this.status = ERROR;
    this.ended = true;
  }
}
