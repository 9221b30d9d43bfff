import type { ScenarioResult } from './scenario-runner.js';

/** The figures a repeated scenario reports as the median of its runs. */
const MEDIAN_FIELDS = [
  'wall_s',
  'observed_s',
  'efficiency',
  'items_per_s',
  'cpu_us_per_item',
  'peak_rss_mb',
  'poll_p50_ms',
  'poll_p99_ms',
  'poll_max_ms',
  'start_delay_ms',
  'idle_poll_p50_ms',
  'idle_poll_p99_ms',
  'idle_poll_cpu_us',
  'foreign_cpu_pct',
  'redis_cpu_us_per_item',
  'failover_s',
] as const;

const BARE_MEDIAN_FIELDS = ['wall_s', 'items_per_s', 'cpu_us_per_item', 'peak_rss_mb'] as const;

export interface RunFigures {
  wall_s: number | null;
  efficiency: number | null;
  items_per_s: number | null;
  cpu_us_per_item: number | null;
  peak_rss_mb: number | null;
  poll_p99_ms: number | null;
  bare_cpu_us_per_item?: number | null;
  client_cpu_us_per_item?: number | null;
}

function median(values: (number | null | undefined)[]): number | null {
  const present = values.filter((v): v is number => typeof v === 'number').sort((a, b) => a - b);
  if (present.length === 0) return null;
  const middle = Math.floor(present.length / 2);
  return present.length % 2 === 1 ? present[middle] : (present[middle - 1] + present[middle]) / 2;
}

/**
 * One result from several runs of a scenario: each figure is the median of that figure over the
 * runs (so a single GC pause or noisy neighbour does not decide a target); every run's own
 * figures stay in `runs`.
 */
export function combineRuns(runs: ScenarioResult[]): ScenarioResult {
  if (runs.length === 1) return runs[0];
  const combined: ScenarioResult = structuredClone(runs[0]);
  const target = combined as unknown as Record<string, number | null>;
  for (const field of MEDIAN_FIELDS) target[field] = median(runs.map((r) => r[field]));
  for (const reference of ['bare', 'client'] as const) {
    const figures = combined[reference] as unknown as Record<string, number | null> | undefined;
    if (!figures) continue;
    for (const field of BARE_MEDIAN_FIELDS) {
      figures[field] = median(runs.map((r) => r[reference]?.[field]));
    }
  }
  combined.notes = [...new Set(runs.flatMap((r) => r.notes))];
  combined.runs = runs.map((r) => ({
    wall_s: r.wall_s ?? null,
    efficiency: r.efficiency ?? null,
    items_per_s: r.items_per_s ?? null,
    cpu_us_per_item: r.cpu_us_per_item ?? null,
    peak_rss_mb: r.peak_rss_mb ?? null,
    poll_p99_ms: r.poll_p99_ms ?? null,
    ...(r.bare ? { bare_cpu_us_per_item: r.bare.cpu_us_per_item } : {}),
    ...(r.client ? { client_cpu_us_per_item: r.client.cpu_us_per_item } : {}),
  }));
  return combined;
}
