import { setTimeout as sleep } from 'node:timers/promises';
import { allProcessTicks, foreignCpu } from './proc-stats.js';

const SAMPLE_MS = 1000;

export interface QuietCheck {
  waitedMs: number;
  /** CPU of other processes in the last sample, in % of one core. */
  otherCpuPct: number;
  top: string;
  quiet: boolean;
}

/**
 * On a shared machine, waits (at most `maxWaitMs`) until other processes use no more than
 * `thresholdPct` of a core, so a scenario does not start in the middle of someone's test run.
 */
export async function waitForQuiet(
  clockTicksPerSecond: number,
  thresholdPct: number,
  maxWaitMs: number,
  onBusy: (check: QuietCheck) => void,
): Promise<QuietCheck> {
  const started = Date.now();
  const own = new Set([process.pid]);
  let told = false;
  for (;;) {
    const before = allProcessTicks();
    await sleep(SAMPLE_MS);
    const { pct, top } = foreignCpu(
      before,
      allProcessTicks(),
      own,
      (SAMPLE_MS / 1000) * clockTicksPerSecond,
    );
    const check = {
      waitedMs: Date.now() - started - SAMPLE_MS,
      otherCpuPct: pct,
      top,
      quiet: pct <= thresholdPct,
    };
    if (check.quiet || Date.now() - started >= maxWaitMs) return check;
    if (!told) onBusy(check);
    told = true;
  }
}
