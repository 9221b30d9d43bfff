import { Injectable } from '@nestjs/common';

/** Knobs that are not configuration: the clock (tests replace it) and probe lease bounds. */
@Injectable()
export class CircuitBreakerOptions {
  /** Epoch milliseconds. */
  now: () => number = Date.now;
  /** The probe lease never lasts less than this, whatever the caller asks. */
  minProbeLeaseMs = 1_000;
}
