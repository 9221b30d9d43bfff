/**
 * Additive increase, multiplicative decrease of one action's concurrency limit, after Netflix
 * concurrency-limits' AIMDLimit (a drop multiplies the limit by a backoff ratio, a success while
 * the limit is in use adds one) with TCP congestion avoidance's pacing: one cut per round trip,
 * and one step up per round trip of successes rather than per success.
 *
 * The rules, the same in memory and in the Redis scripts (redis-tenant.scripts.ts):
 * - no limit (null) until CXone first refuses a call (429 or 503): the batches' `max_workers`
 *   are the only bound;
 * - a refusal cuts to 3/4 of what was in flight when the refused call was sent (TCP's flight
 *   size: the best known bound of what CXone took), never above 3/4 of the limit, never below 1;
 *   only a refusal of a call sent since the last cut (same `epoch`), and at most once per round
 *   trip, so the calls already in flight when the limit fell do not cut it again;
 * - `limit` successes of calls sent while the limit was all in use raise it by 1, never above
 *   what the batches ask.
 */
export const DECREASE_RATIO = 0.75;

/** The round trip assumed before a success has measured one. */
export const DEFAULT_ROUND_TRIP_MS = 100;

/** The limit after a refusal of a call sent with `inFlightWhenSent` calls of the action in flight. */
export function cutLimit(limit: number | null, inFlightWhenSent: number): number {
  const base = limit === null ? inFlightWhenSent : Math.min(limit, inFlightWhenSent);
  return Math.max(1, Math.floor(base * DECREASE_RATIO));
}

/** What the limiter knows of a call when it was let through. */
export interface SentUnder {
  /** The action's epoch (count of cuts) when the call was sent. */
  epoch: number;
  /** Calls of the action in flight once this one was counted. */
  inFlight: number;
  /** The limit was all in use: the call's success says the limit may grow. */
  atLimit: boolean;
}

/** One action's adaptive limit (in-process state; the Redis adapter keeps the same in a hash). */
export class AimdLimit {
  /** null: CXone has not refused yet, the batches' asks are the limit. */
  limit: number | null = null;
  epoch = 0;
  private wins = 0;
  private cutAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly now: () => number = Date.now) {}

  /** Counts a call being sent, with `inFlight` calls of the action now in flight (this one included). */
  sent(inFlight: number): SentUnder {
    return {
      epoch: this.epoch,
      inFlight,
      atLimit: this.limit !== null && inFlight >= this.limit,
    };
  }

  /** CXone refused a call; true when the limit changed. `roundTripMs`: the action's recent round trip. */
  refused(call: SentUnder, roundTripMs: number): boolean {
    const now = this.now();
    if (call.epoch !== this.epoch || now < this.cutAt + roundTripMs) return false;
    this.limit = cutLimit(this.limit, call.inFlight);
    this.epoch++;
    this.wins = 0;
    this.cutAt = now;
    return true;
  }

  /** A call succeeded; true when the limit changed. `asked`: the batches' max_workers together (0: unknown). */
  succeeded(call: SentUnder, asked: number): boolean {
    if (this.limit === null || !call.atLimit || call.epoch !== this.epoch) return false;
    if (++this.wins < this.limit) return false;
    this.wins = 0;
    if (asked > 0 && this.limit >= asked) return false;
    this.limit++;
    return true;
  }
}

/**
 * A smoothed round trip of successful calls (TCP's SRTT, gain 1/8); the pacing of cuts. Until the
 * first sample, DEFAULT_ROUND_TRIP_MS.
 */
export class RoundTrip {
  private smoothed: number | undefined;

  observe(latencyMs: number): void {
    if (!(latencyMs >= 0)) return;
    this.smoothed =
      this.smoothed === undefined ? latencyMs : this.smoothed + (latencyMs - this.smoothed) / 8;
  }

  get ms(): number {
    return this.smoothed ?? DEFAULT_ROUND_TRIP_MS;
  }
}
