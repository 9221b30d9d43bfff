import type { ExecuteOptions, ExecuteResult } from '../../cxone/cxone.types.js';

export type { ExecuteOptions, ExecuteResult };

/**
 * What the orchestrator needs from CXone: run one Data Action for one payload. Failures are thrown
 * as `DomainError`s with a stable code, and may carry `attempts`, `latencyMs` and a stale
 * `fallback`. Bound to the CXone client; the port keeps the runner testable without HTTP.
 */
export abstract class ActionExecutor {
  abstract execute(
    actionId: string,
    payload: unknown,
    options: ExecuteOptions,
  ): Promise<ExecuteResult>;
}
