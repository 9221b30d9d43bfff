/**
 * One timer for the earliest moment something blocked becomes possible again (a pause ending, a
 * rate window sliding): `at` keeps the earliest of the times asked for, and `fire` runs then.
 */
export class WakeTimer {
  private timer: NodeJS.Timeout | undefined;
  private due = Number.POSITIVE_INFINITY;

  constructor(
    private readonly fire: () => void,
    private readonly now: () => number = Date.now,
  ) {}

  at(time: number): void {
    if (time >= this.due) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.due = time;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.due = Number.POSITIVE_INFINITY;
        this.fire();
      },
      Math.max(0, Math.ceil(time - this.now())),
    );
    // Waiting work is held by its batch run, not by this timer.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.due = Number.POSITIVE_INFINITY;
  }
}
