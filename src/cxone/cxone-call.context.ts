import type { AttemptInfo, TraceContext } from './cxone.types.js';
import { traceFlags } from '../lib/trace-context.js';

/**
 * The state of one `execute` shared by its attempts: the interceptors count attempts, stamp
 * each with a fresh span id and time it. Carried on the axios request config as `cxoneCall`;
 * it is a class instance, not a plain object, so axios passes it along by reference when
 * it merges configs instead of copying it, and every attempt of one call shares it.
 */
export class CxoneCall implements AttemptInfo {
  attempts = 0;
  spanId = '';
  attemptStartedAt = 0;
  lastLatencyMs = 0;
  lastStatus = 0;
  lastErrorCode: string | undefined = undefined;
  readonly flags: string;

  constructor(
    readonly actionId: string,
    readonly requestId: string,
    readonly traceContext: TraceContext,
    readonly circuitState: 'closed' | 'half-open' = 'closed',
    readonly itemIndex: number | undefined = undefined,
  ) {
    this.flags = traceFlags(traceContext);
  }
}

declare module 'axios' {
  interface AxiosRequestConfig {
    cxoneCall?: CxoneCall;
  }
}
