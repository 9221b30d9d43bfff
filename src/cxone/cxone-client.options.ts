import { Injectable } from '@nestjs/common';
import type { SpanIdSource } from './cxone.types.js';
import { randomSpanId } from '../lib/trace-context.js';

/** Knobs of the CXone client that are not configuration (tests shrink the delays). */
@Injectable()
export class CxoneClientOptions {
  /** First retry backoff; doubles per retry, with jitter. */
  retryBaseDelayMs = 100;
  retryMaxDelayMs = 5_000;
  /** [0, 1); jitter source. */
  random: () => number = Math.random;
  /** Replaceable later with `CxoneClient.useSpanIdSource` (OpenTelemetry). */
  spanIdSource: SpanIdSource = randomSpanId;
}
