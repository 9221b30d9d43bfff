/**
 * Exponential backoff after consecutive failures of a shared request (token, discovery):
 * `initial, 2×initial, …` capped at `max`, reset by a success. The next attempt waits
 * `delayMs(now)` so a failing endpoint is not hammered by every caller.
 */
export class FailureBackoff {
  private failures = 0;
  private notBefore = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {}

  delayMs(now: number): number {
    return Math.max(0, this.notBefore - now);
  }

  failed(now: number): void {
    const wait = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    this.notBefore = now + wait;
  }

  succeeded(): void {
    this.failures = 0;
    this.notBefore = 0;
  }
}

/** A wait that does not keep a shutting-down process alive. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
