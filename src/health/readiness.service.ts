import { Injectable } from '@nestjs/common';

/** Throws to say "not ready"; may resolve with details shown in `/health/ready`'s body. */
export type ReadinessCheck = () => Promise<void | Record<string, unknown>>;

/**
 * What `/health/ready` asks: whether the process is draining, and the checks that modules
 * register (the batch store's ping, for example). A check throws to say "not ready".
 */
@Injectable()
export class ReadinessService {
  private readonly checks = new Map<string, ReadinessCheck>();
  private drainingSince: Date | undefined;

  register(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  startDraining(): void {
    this.drainingSince ??= new Date();
  }

  get draining(): boolean {
    return this.drainingSince !== undefined;
  }

  entries(): [string, ReadinessCheck][] {
    return [...this.checks.entries()];
  }
}
