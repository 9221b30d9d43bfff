/**
 * CXONE_RATE_LIMIT_PER_SECOND in one process: the start times of the last `size` calls, and a
 * call may start once the oldest of them is a window old. `size` calls per `windowMs` is the rate
 * (`ceil(rate)` calls per `ceil(rate) / rate` seconds, so 2.5 per second is 3 per 1.2 s).
 *
 * A sliding log rather than GCRA or a token bucket: it bounds the starts in every window exactly,
 * where a token bucket lets twice the rate through in the second after an idle one, and GCRA
 * without a burst tolerance spaces calls `1/rate` apart and so loses every timer's lateness (1 ms
 * late on a 2.5 ms spacing is 30 % of the rate). The Redis adapter keeps the same log in a sorted
 * set.
 */
export class StartRateWindow {
  readonly size: number;
  readonly windowMs: number;
  private readonly starts: Float64Array;
  /** Index of the oldest start. */
  private oldest = 0;

  constructor(perSecond: number) {
    this.size = Math.max(1, Math.ceil(perSecond));
    this.windowMs = (1000 * this.size) / perSecond;
    this.starts = new Float64Array(this.size).fill(Number.NEGATIVE_INFINITY);
  }

  /** Milliseconds until a call may start; 0: now. */
  waitMs(now: number): number {
    return Math.max(0, this.starts[this.oldest] + this.windowMs - now);
  }

  /** Counts a start at `now`; false (nothing counted) when the window is full. */
  take(now: number): boolean {
    if (this.waitMs(now) > 0) return false;
    this.starts[this.oldest] = now;
    this.oldest = (this.oldest + 1) % this.size;
    return true;
  }
}
