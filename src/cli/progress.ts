import { setTimeout as sleep } from 'node:timers/promises';
import cliProgress, { type MultiBar, type SingleBar } from 'cli-progress';
import type { BatchStatus, ServiceClient } from './service-client.js';

/** How often a batch's status is asked for while it is watched. */
const POLL_MS = 1000;
/** Without a terminal, one line per batch this often (a log, not an animation). */
const PLAIN_LINE_MS = 5000;
/** Items per second are measured over this much recent time. */
const RATE_WINDOW_MS = 10_000;

interface Sample {
  at: number;
  done: number;
}

/** One watched batch: its last status and the recent samples its rate is measured on. */
export class WatchedBatch {
  last?: BatchStatus;
  private readonly samples: Sample[] = [];
  readonly startedAt = Date.now();

  constructor(readonly batchId: string) {}

  get finished(): boolean {
    return this.last !== undefined && this.last.finished_at !== null;
  }

  get done(): number {
    return this.last === undefined ? 0 : this.last.summary.total - this.last.summary.pending;
  }

  get total(): number {
    return this.last?.summary.total ?? 0;
  }

  record(status: BatchStatus, at = Date.now()): void {
    this.last = status;
    this.samples.push({ at, done: this.done });
    while (this.samples.length > 2 && at - this.samples[1].at >= RATE_WINDOW_MS) {
      this.samples.shift();
    }
  }

  /** Items finished per second over the recent window; undefined until two samples apart. */
  rate(): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (first === undefined || last === undefined || last.at - first.at < 500) return undefined;
    return ((last.done - first.done) * 1000) / (last.at - first.at);
  }

  /** Seconds left at the current rate; undefined when that cannot be told. */
  etaSeconds(): number | undefined {
    const rate = this.rate();
    if (this.finished) return 0;
    if (rate === undefined || rate <= 0) return undefined;
    return (this.total - this.done) / rate;
  }
}

export function formatSeconds(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '-';
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

function formatRate(rate: number | undefined): string {
  if (rate === undefined) return '-';
  return rate >= 100 ? String(Math.round(rate)) : rate.toFixed(1);
}

/** The plain progress line of a batch (also what a log collector keeps). */
export function progressLine(batch: WatchedBatch): string {
  const status = batch.last;
  if (status === undefined) return `${batch.batchId} waiting for its first status`;
  const { summary } = status;
  const percent = batch.total === 0 ? 100 : Math.floor((batch.done / batch.total) * 100);
  return [
    batch.batchId,
    status.status,
    `${batch.done}/${batch.total}`,
    `(${percent}%)`,
    `${formatRate(batch.rate())} items/s`,
    `ETA ${formatSeconds(batch.etaSeconds())}`,
    `success ${summary.successful}`,
    `failed ${summary.failed}`,
    `degraded ${summary.degraded}`,
    `cancelled ${summary.cancelled}`,
  ].join('  ');
}

/** The closing line of a finished batch. */
export function outcomeLine(batch: WatchedBatch): string {
  const status = batch.last!;
  const { summary } = status;
  const reason = status.failure_reason ? ` (${status.failure_reason})` : '';
  const took = formatSeconds((Date.now() - batch.startedAt) / 1000);
  return (
    `${batch.batchId} ${status.status}${reason}: ${summary.total} items, ` +
    `${summary.successful} success, ${summary.failed} failed, ${summary.degraded} degraded, ` +
    `${summary.cancelled} cancelled (watched ${took})`
  );
}

interface ProgressDisplay {
  update(batches: WatchedBatch[]): void;
  stop(): void;
}

/** Without a terminal: a line per batch every few seconds, and one when it ends. */
class PlainDisplay implements ProgressDisplay {
  private lastLineAt = 0;
  private readonly reported = new Set<string>();

  constructor(private readonly out: NodeJS.WritableStream) {}

  update(batches: WatchedBatch[]): void {
    const now = Date.now();
    const due = now - this.lastLineAt >= PLAIN_LINE_MS;
    for (const batch of batches) {
      if (batch.finished) {
        if (!this.reported.has(batch.batchId)) {
          this.reported.add(batch.batchId);
          this.out.write(`${progressLine(batch)}\n`);
        }
      } else if (due) {
        this.out.write(`${progressLine(batch)}\n`);
      }
    }
    if (due) this.lastLineAt = now;
  }

  stop(): void {}
}

/** On a terminal: a live bar per batch, redrawn in place. */
class BarDisplay implements ProgressDisplay {
  private readonly bars = new Map<string, SingleBar>();
  private readonly multibar: MultiBar;

  constructor(
    out: NodeJS.WritableStream,
    private readonly labelled: boolean,
  ) {
    this.multibar = new cliProgress.MultiBar(
      {
        stream: out,
        // Short enough for an 80-column terminal: the label only when several batches are shown.
        format:
          '{label}{bar} {percentage}% {value}/{total} {rate}/s ETA {eta_text} | ' +
          'ok {successful} failed {failed} degraded {degraded}',
        barsize: 12,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  update(batches: WatchedBatch[]): void {
    for (const batch of batches) {
      const status = batch.last;
      if (status === undefined) continue;
      const payload = {
        label: this.labelled ? `${batch.batchId.slice(0, 8)} ` : '',
        rate: formatRate(batch.rate()),
        eta_text: formatSeconds(batch.etaSeconds()),
        successful: status.summary.successful,
        failed: status.summary.failed,
        degraded: status.summary.degraded,
      };
      let bar = this.bars.get(batch.batchId);
      if (bar === undefined) {
        bar = this.multibar.create(batch.total, batch.done, payload);
        this.bars.set(batch.batchId, bar);
      } else {
        bar.setTotal(batch.total);
        bar.update(batch.done, payload);
      }
    }
  }

  stop(): void {
    this.multibar.stop();
  }
}

export type WatchOutcome =
  { interrupted: false; statuses: BatchStatus[] } | { interrupted: true; statuses: BatchStatus[] };

export interface WatchOptions {
  /** Where the display goes (stderr: stdout is kept for what a script reads). */
  out: NodeJS.WritableStream;
  /** A live bar; otherwise plain lines. */
  tty: boolean;
  /** Aborted: stop watching (the batches go on). */
  signal: AbortSignal;
}

/** Follows batches to their end, showing their progress; stops early when the signal aborts. */
export async function watchBatches(
  client: ServiceClient,
  batchIds: string[],
  options: WatchOptions,
): Promise<WatchOutcome> {
  const batches = batchIds.map((id) => new WatchedBatch(id));
  const display: ProgressDisplay = options.tty
    ? new BarDisplay(options.out, batches.length > 1)
    : new PlainDisplay(options.out);
  const statuses = () => batches.flatMap((batch) => (batch.last ? [batch.last] : []));
  try {
    for (;;) {
      await Promise.all(
        batches
          .filter((batch) => !batch.finished)
          .map(async (batch) => {
            const status = await client.status(
              batch.batchId,
              { limit: 1 },
              { signal: options.signal, retries: 6, retryUnreachable: true },
            );
            batch.record(status);
          }),
      );
      display.update(batches);
      if (batches.every((batch) => batch.finished)) break;
      await sleep(POLL_MS, undefined, { signal: options.signal });
    }
  } catch (error) {
    display.stop();
    if (options.signal.aborted) return { interrupted: true, statuses: statuses() };
    throw error;
  }
  display.stop();
  for (const batch of batches) options.out.write(`${outcomeLine(batch)}\n`);
  return { interrupted: false, statuses: statuses() };
}
