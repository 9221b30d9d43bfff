/** How one attempt ended (label `outcome` of orchestrator_callback_attempts_total). */
export const ATTEMPT_OUTCOMES = [
  'success',
  'redirect',
  'client_error',
  'rate_limited',
  'server_error',
  'timeout',
  'network_error',
  'refused_address',
  'interrupted',
] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/**
 * What the callback dispatcher reports: attempts and deliveries that ended. Bound to the metrics
 * by the observability module; without it, `noopCallbackTelemetry`.
 */
export abstract class CallbackTelemetry {
  abstract attempted(outcome: AttemptOutcome, seconds: number): void;
  abstract ended(outcome: 'delivered' | 'failed', count?: number): void;
}

class NoopCallbackTelemetry extends CallbackTelemetry {
  attempted(): void {}
  ended(): void {}
}

export const noopCallbackTelemetry: CallbackTelemetry = new NoopCallbackTelemetry();
