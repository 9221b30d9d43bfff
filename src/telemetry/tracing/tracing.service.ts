import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import {
  type Attributes,
  type Context,
  createTraceState,
  diag,
  DiagLogLevel,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  trace,
  TraceFlags,
  type Tracer,
} from '@opentelemetry/api';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { AppConfig } from '../../config/app-config.js';
import {
  callerContext,
  flagsOf,
  randomSpanId,
  type TraceContext,
  traceContextFromHeaders,
} from '../../lib/trace-context.js';
import { AttemptSpan } from './attempt-span.js';

/** Where spans go besides OTLP; tests add an in-memory exporter here. */
@Injectable()
export class TracingOptions {
  spanProcessors: SpanProcessor[] = [];
}

const SCOPE = 'cxone-orchestrator';
const SHUTDOWN_FLUSH_MS = 3000;
const SERVICE_VERSION = '0.1.0';

/**
 * The OTLP exporter of OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL, or none without an endpoint. Over
 * HTTP the base endpoint gets `/v1/traces`; gRPC takes it as it is (`http://collector:4317`,
 * plain text for `http:`, TLS for `https:`).
 */
function otlpExporterOf(config: AppConfig): SpanExporter | undefined {
  const { protocol, exporterEndpoint, tracesEndpoint } = config.otel;
  if (protocol === 'grpc') {
    const url = tracesEndpoint ?? exporterEndpoint;
    return url === undefined ? undefined : new GrpcTraceExporter({ url });
  }
  const url = tracesEndpoint ?? (exporterEndpoint ? `${exporterEndpoint}/v1/traces` : undefined);
  if (url === undefined) return undefined;
  return protocol === 'http/json'
    ? new JsonTraceExporter({ url })
    : new ProtobufTraceExporter({ url });
}

function samplerOf(config: AppConfig): Sampler {
  const { sampler, samplerRatio } = config.otel;
  const ratio = new TraceIdRatioBasedSampler(samplerRatio);
  switch (sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** The SDK's own warnings (a collector that refuses exports, a failing metric) go to the log. */
function reportSdkProblems(): void {
  const logger = new Logger('OpenTelemetry');
  const write = (message: string, ...args: unknown[]): void =>
    logger.warn(args.length > 0 ? `${message} ${args.map(String).join(' ')}` : message);
  diag.setLogger(
    { error: write, warn: write, info: () => {}, debug: () => {}, verbose: () => {} },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
}

/**
 * The service's tracer (explicit spans, no auto-instrumentation): the HTTP request span, the
 * batch run, each chunk and each CXone attempt. Contexts are passed explicitly from parent to
 * child, never through async-local state, because a batch leaves the request (and, with Redis,
 * the process) before it runs: its span context travels in the batch's stored `TraceContext`.
 *
 * Spans are recorded only when they can go somewhere: OTLP (OTEL_EXPORTER_OTLP_ENDPOINT) or a
 * processor given by a test. Otherwise (and with OTEL_SDK_DISABLED=true) `enabled` is false and
 * the service still propagates W3C trace ids, with random span ids, at no cost.
 */
@Injectable()
export class Tracing implements OnApplicationShutdown {
  readonly enabled: boolean;
  private readonly provider: TracerProvider | undefined;
  private readonly tracer: Tracer;
  private readonly processors: SpanProcessor[];
  private readonly resource: Resource;
  private readonly scope = { name: SCOPE, version: SERVICE_VERSION };
  /** The span context of a chunk's `TraceContext`, so its attempts find their parent cheaply. */
  private readonly parents = new WeakMap<TraceContext, SpanContext>();

  constructor(config: AppConfig, options: TracingOptions) {
    const processors = [...options.spanProcessors];
    const exporter = config.otel.sdkDisabled ? undefined : otlpExporterOf(config);
    if (exporter !== undefined) {
      processors.push(new BatchSpanProcessor({ exporter, ...config.otel.batch }));
      reportSdkProblems();
    }
    this.enabled = !config.otel.sdkDisabled && processors.length > 0;
    this.processors = processors;
    this.resource = resourceFromAttributes({
      [ATTR_SERVICE_NAME]: config.otel.serviceName,
      [ATTR_SERVICE_VERSION]: SERVICE_VERSION,
    });
    if (this.enabled) {
      this.provider = new TracerProvider({
        resource: this.resource,
        sampler: samplerOf(config),
        spanProcessors: processors,
      });
      this.tracer = this.provider.getTracer(SCOPE, SERVICE_VERSION);
    } else {
      this.tracer = trace.getTracer(SCOPE); // never used for spans while disabled
    }
  }

  /**
   * Continues the caller's trace (`traceparent`/`tracestate`, W3C propagator) or starts a new
   * one. With tracing on, opens the request's server span; the returned context names it as
   * the parent of work done for this request.
   */
  startRequest(
    method: string,
    headers: IncomingHttpHeaders,
    traced: boolean,
  ): { span: Span | undefined; trace: TraceContext } {
    if (!this.enabled || !traced)
      return { span: undefined, trace: traceContextFromHeaders(headers) };
    const span = this.tracer.startSpan(method, { kind: SpanKind.SERVER }, callerContext(headers));
    return { span, trace: this.childContextOf(span) };
  }

  /** The context for work done under `span` (its trace, with `span` as the parent). */
  childContextOf(span: Span): TraceContext {
    const context = span.spanContext();
    const traceState = context.traceState?.serialize();
    return {
      traceId: context.traceId,
      parentSpanId: context.spanId,
      traceFlags: flagsOf(context.traceFlags),
      ...(traceState ? { traceState } : {}),
    };
  }

  /**
   * Starts a span under the parent named by `parent` (a stored `TraceContext`: the request's,
   * a chunk's). Only call while `enabled`.
   */
  startSpan(name: string, kind: SpanKind, attributes: Attributes, parent: TraceContext): Span {
    return this.tracer.startSpan(name, { kind, attributes }, this.contextOf(parent));
  }

  /** Remembers that work under `work` is a child of `span` (chunk → attempts). */
  bind(work: TraceContext, span: Span): void {
    this.parents.set(work, span.spanContext());
  }

  /**
   * Starts the span of a CXone attempt under `parent` (see `AttemptSpan`); undefined when the
   * parent is not sampled (the attempt then propagates a fresh span id that nobody records).
   */
  startAttemptSpan(parent: TraceContext, attributes: Attributes): AttemptSpan | undefined {
    const parentContext = this.parents.get(parent) ?? this.spanContextOf(parent);
    if ((parentContext.traceFlags & TraceFlags.SAMPLED) === 0) return undefined;
    return new AttemptSpan(parentContext, randomSpanId(), attributes, this.resource, this.scope);
  }

  endAttemptSpan(span: AttemptSpan, failed: boolean): void {
    span.end(failed);
    for (const processor of this.processors) processor.onEnd(span);
  }

  /** Sends the spans still queued, waiting at most a few seconds for an unreachable collector. */
  async onApplicationShutdown(): Promise<void> {
    if (this.provider === undefined) return;
    const flushed = this.provider.shutdown().catch((error: unknown) => {
      new Logger('OpenTelemetry').warn(`last spans not exported: ${String(error)}`);
    });
    await Promise.race([flushed, sleep(SHUTDOWN_FLUSH_MS, undefined, { ref: false })]);
  }

  private contextOf(parent: TraceContext): Context {
    return trace.setSpanContext(
      ROOT_CONTEXT,
      this.parents.get(parent) ?? this.spanContextOf(parent),
    );
  }

  private spanContextOf(parent: TraceContext): SpanContext {
    const flags = parent.traceFlags ?? (parent.sampled === false ? '00' : '01');
    return {
      traceId: parent.traceId,
      // Without a parent span (a batch stored while tracing was off) the run still joins the
      // batch's trace, under a parent span nobody recorded.
      spanId: parent.parentSpanId ?? randomSpanId(),
      traceFlags: Number.parseInt(flags, 16) & TraceFlags.SAMPLED,
      isRemote: true,
      ...(parent.traceState ? { traceState: createTraceState(parent.traceState) } : {}),
    };
  }
}
