import type { TraceContext } from '../common/trace-context.js';

export interface ExecuteOptions {
  traceContext: TraceContext;
  /** Unique per item, the same on every retry of that item (sent as X-Request-Id). */
  requestId: string;
  timeoutMs: number;
  cacheTtlSeconds: number;
  /** Position of the item in its batch; only read by telemetry. */
  itemIndex?: number;
}

export interface ExecuteResult {
  data: unknown;
  cached: boolean;
  attempts: number;
  latencyMs: number;
}

/**
 * What the orchestrator needs from CXone: run one Data Action for one payload. Failures are thrown
 * as `DomainError`s with a stable code, and may carry `attempts`, `latencyMs` and a stale
 * `fallback`. Bound to the CXone client.
 */
export abstract class ActionExecutor {
  abstract execute(
    actionId: string,
    payload: unknown,
    options: ExecuteOptions,
  ): Promise<ExecuteResult>;
}
