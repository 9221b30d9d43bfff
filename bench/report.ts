import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { MachineInfo } from './proc-stats.js';
import type { BareFigures, ScenarioResult } from './scenario-runner.js';
import { round } from './stats.js';

const TARGET_DIGITS: Record<string, number> = {
  efficiency: 3,
  cpu_ratio_vs_bare: 2,
  goodput: 3,
  share_429_after_2s: 4,
  calls_per_item: 3,
  sim_peak_in_flight: 0,
};

export interface Target {
  id: string;
  scenario: string;
  metric: string;
  op: '>=' | '<=' | '<';
  threshold: number;
  value: number | null;
  /** null: not measured in this run (scenario not selected, skipped or failed). */
  pass: boolean | null;
}

export interface Comparisons {
  /** Service CPU per item ÷ bare loop CPU per item (scenario b). */
  b_cpu_ratio_vs_bare: number | null;
  b_throughput_ratio_vs_bare: number | null;
  /** The service's axios stack alone ÷ bare loop, CPU per item: the part the HTTP client costs. */
  b_client_cpu_ratio_vs_bare: number | null;
  /** Extra CPU per item with tracing and metrics on, in % of the cost with them off. */
  observability_cpu_cost_pct: number | null;
  observability_throughput_cost_pct: number | null;
  /** OTLP export requests the local sink received during b: 0 means tracing is not active. */
  b_otlp_exports: number | null;
  redis_vs_memory: {
    scenario: string;
    store: string;
    replicas: number;
    efficiency: number | null;
    cpu_us_per_item: number | null;
  }[];
}

export interface Report {
  generated_at: string;
  command: string;
  quick: boolean;
  /** Runs per scenario; above 1 every figure is the median of the runs. */
  repeat: number;
  /** mtime of dist/main.js: which build of the service was measured. */
  service_built_at: string;
  machine: MachineInfo;
  pinning: string;
  method: string[];
  scenarios: ScenarioResult[];
  comparisons: Comparisons;
  targets: Target[];
}

const byId = (results: ScenarioResult[], id: string): ScenarioResult | undefined =>
  results.find((r) => r.id === id && r.status === 'ok');

export function compare(results: ScenarioResult[]): Comparisons {
  const b = byId(results, 'b');
  const off = byId(results, 'b-otel-off');
  const ratio = (x: number | null | undefined, y: number | null | undefined): number | null =>
    x === undefined || x === null || y === undefined || y === null || y === 0
      ? null
      : round(x / y, 2);
  const costPct = (
    on: number | null | undefined,
    offValue: number | null | undefined,
    lowerIsBetter: boolean,
  ): number | null => {
    if (
      on === undefined ||
      on === null ||
      offValue === undefined ||
      offValue === null ||
      offValue === 0
    )
      return null;
    const change = lowerIsBetter ? on / offValue - 1 : 1 - on / offValue;
    return round(change * 100, 1);
  };
  return {
    b_cpu_ratio_vs_bare: ratio(b?.cpu_us_per_item, b?.bare?.cpu_us_per_item),
    b_throughput_ratio_vs_bare: ratio(b?.items_per_s, b?.bare?.items_per_s),
    b_client_cpu_ratio_vs_bare: ratio(b?.client?.cpu_us_per_item, b?.bare?.cpu_us_per_item),
    observability_cpu_cost_pct: costPct(b?.cpu_us_per_item, off?.cpu_us_per_item, true),
    observability_throughput_cost_pct: costPct(b?.items_per_s, off?.items_per_s, false),
    b_otlp_exports: b?.otlp?.requests ?? null,
    redis_vs_memory: ['a', 'a-sqlite', 'redis-a1', 'redis-a2']
      .map((id) => results.find((r) => r.id === id))
      .filter((r): r is ScenarioResult => r !== undefined)
      .map((r) => ({
        scenario: r.id,
        store: r.status === 'ok' ? r.store : `${r.store} (${r.status})`,
        replicas: r.replicas,
        efficiency: r.efficiency ?? null,
        cpu_us_per_item: r.cpu_us_per_item ?? null,
      })),
  };
}

export function evaluateTargets(results: ScenarioResult[], comparisons: Comparisons): Target[] {
  const target = (
    scenario: string,
    metric: string,
    op: Target['op'],
    threshold: number,
    value: number | null | undefined,
  ): Target => {
    const measured = byId(results, scenario) !== undefined && value !== null && value !== undefined;
    const v = measured ? value : null;
    let pass: boolean | null = null;
    if (v !== null)
      pass = op === '>=' ? v >= threshold : op === '<=' ? v <= threshold : v < threshold;
    return { id: `${scenario}.${metric}`, scenario, metric, op, threshold, value: v, pass };
  };
  return [
    target('a', 'efficiency', '>=', 0.95, byId(results, 'a')?.efficiency),
    target('b', 'cpu_ratio_vs_bare', '<=', 2, comparisons.b_cpu_ratio_vs_bare),
    target('c', 'peak_rss_mb', '<', 400, byId(results, 'c')?.peak_rss_mb),
    target('c', 'poll_p99_ms', '<', 25, byId(results, 'c')?.poll_p99_ms),
    target('a-sqlite', 'efficiency', '>=', 0.93, byId(results, 'a-sqlite')?.efficiency),
    target('c-sqlite', 'peak_rss_mb', '<', 400, byId(results, 'c-sqlite')?.peak_rss_mb),
    target('c-sqlite', 'poll_p99_ms', '<', 25, byId(results, 'c-sqlite')?.poll_p99_ms),
    target('ten-sqlite', 'peak_rss_mb', '<', 300, byId(results, 'ten-sqlite')?.peak_rss_mb),
    target('redis-a1', 'efficiency', '>=', 0.9, byId(results, 'redis-a1')?.efficiency),
    target('redis-a2', 'efficiency', '>=', 0.9, byId(results, 'redis-a2')?.efficiency),
    target('failover', 'failover_s', '<', 20, byId(results, 'failover')?.failover_s),
    target('ten-redis', 'peak_rss_mb', '<', 300, byId(results, 'ten-redis')?.peak_rss_mb),
    ...['tenant-1', 'tenant-2'].flatMap((id) => {
      const run = byId(results, id)?.tenant?.runs[0];
      return [
        target(id, 'goodput', '>=', 0.85, run?.goodput),
        target(id, 'share_429_after_2s', '<=', 0.05, run?.share_429_settled),
        target(id, 'calls_per_item', '<=', 1.1, run?.calls_per_item),
      ];
    }),
    target(
      'tenant-cap-2',
      'sim_peak_in_flight',
      '<=',
      20,
      byId(results, 'tenant-cap-2')?.tenant?.runs[0]?.peak_in_flight,
    ),
  ];
}

function show(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined) return '-';
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** Plain text, aligned columns: text left, numbers right. */
export function table(header: string[], rows: string[][], numeric: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function resultsTable(results: ScenarioResult[]): string {
  const header = [
    'scenario',
    'store',
    'items',
    'batches',
    'workers',
    'latency ms',
    'wall s',
    'ideal s',
    'efficiency',
    'items/s',
    'CPU µs/item',
    'peak RSS MB',
    'poll p99 ms',
  ];
  const numeric = header.map((_, i) => i >= 2);
  const rows: string[][] = [];
  for (const r of results) {
    const store = r.store === 'redis' ? `redis×${r.replicas}` : r.store;
    if (r.status !== 'ok') {
      rows.push([
        r.id,
        store,
        show(r.items),
        show(r.batches),
        show(r.max_workers),
        show(r.latency_ms),
        r.status.toUpperCase(),
        '',
        '',
        '',
        '',
        '',
        '',
      ]);
      continue;
    }
    rows.push([
      r.id,
      store,
      show(r.items),
      show(r.batches),
      show(r.max_workers),
      show(r.latency_ms),
      show(r.wall_s, 2),
      r.ideal_s > 0 ? show(r.ideal_s, 2) : '-',
      show(r.efficiency, 3),
      show(r.items_per_s),
      show(r.cpu_us_per_item, 1),
      show(r.peak_rss_mb, 1),
      show(r.poll_p99_ms, 1),
    ]);
    const references: [string, BareFigures | undefined][] = [
      ['bare loop', r.bare],
      ['axios client loop', r.client],
    ];
    for (const [label, figures] of references) {
      if (!figures) continue;
      rows.push([
        `${r.id}: ${label}`,
        '-',
        show(r.items),
        '-',
        show(r.max_workers),
        show(r.latency_ms),
        show(figures.wall_s, 2),
        r.ideal_s > 0 ? show(r.ideal_s, 2) : '-',
        r.ideal_s > 0 ? show(round(r.ideal_s / figures.wall_s, 3), 3) : '-',
        show(figures.items_per_s),
        show(figures.cpu_us_per_item, 1),
        show(figures.peak_rss_mb, 1),
        '-',
      ]);
    }
  }
  return table(header, rows, numeric);
}

/** Tenant scenarios: each run (adaptation on, then off) on its own line. */
export function tenantTable(results: ScenarioResult[]): string {
  const header = [
    'scenario',
    'store',
    'adaptive',
    'wall s',
    'items/s',
    'goodput',
    '429 share',
    '429 share after 2 s',
    'calls/item',
    'failed',
    'sim peak in flight',
    'sim mean in flight',
    'mean limit',
  ];
  const rows: string[][] = [];
  for (const r of results) {
    if (r.status !== 'ok' || !r.tenant) continue;
    const store = r.store === 'redis' ? `redis×${r.replicas}` : 'memory';
    for (const run of r.tenant.runs) {
      rows.push([
        r.id,
        store,
        run.adaptive ? 'on' : 'off',
        show(run.wall_s, 2),
        show(run.items_per_s),
        show(run.goodput, 3),
        percent(run.share_429),
        percent(run.share_429_settled),
        show(run.calls_per_item, 3),
        show(run.failed),
        show(run.peak_in_flight),
        show(run.mean_in_flight_settled, 1),
        show(run.mean_limit_settled, 1),
      ]);
    }
  }
  return table(
    header,
    rows,
    header.map((_, i) => i >= 3),
  );
}

function percent(share: number | null | undefined): string {
  return share === null || share === undefined ? '-' : `${(share * 100).toFixed(1)}%`;
}

/** Figures that explain the main table: where time and memory go, and whether the run was sound. */
export function diagnosticsTable(results: ScenarioResult[]): string {
  const header = [
    'scenario',
    'submit→started ms',
    'RSS at ready MB',
    'sim peak in flight',
    'sim CPU µs/item',
    'idle poll p50 ms',
    'idle poll p99 ms',
    'idle poll CPU µs',
    'OTLP exports',
    '/metrics bytes',
    'Redis CPU µs/item',
    'other CPU %',
  ];
  const rows = results
    .filter((r) => r.status === 'ok')
    .map((r) => [
      r.id,
      show(r.start_delay_ms),
      show(r.ready_rss_mb, 1),
      show(r.simulator?.peak_in_flight),
      show(r.simulator?.cpu_us_per_item, 1),
      show(r.idle_poll_p50_ms, 2),
      show(r.idle_poll_p99_ms, 2),
      show(r.idle_poll_cpu_us),
      r.otlp ? show(r.otlp.requests) : '-',
      metricsCell(r.metrics_endpoint),
      show(r.redis_cpu_us_per_item, 1),
      show(r.foreign_cpu_pct),
    ]);
  return table(
    header,
    rows,
    header.map((_, i) => i > 0),
  );
}

function metricsCell(metrics: ScenarioResult['metrics_endpoint']): string {
  if (!metrics) return '-';
  return metrics.status === 200 ? show(metrics.bytes) : `(${metrics.status})`;
}

export function render(report: Report): string {
  const out: string[] = [];
  const { machine } = report;
  out.push(
    `CXone Data Action Orchestrator benchmark${report.quick ? ' (--quick: item counts ÷ 10)' : ''}${
      report.repeat > 1 ? ` (medians of ${report.repeat} runs per scenario)` : ''
    }`,
    `${report.generated_at} · node ${machine.node} · ${machine.cpu_model} · ${machine.cores} cores · ${machine.memory_gb} GB`,
    `service build: dist/main.js of ${report.service_built_at} (run from a private copy of dist/)`,
    `pinning: ${report.pinning}`,
    '',
    resultsTable(report.scenarios),
    '',
  );
  if (report.scenarios.some((r) => r.status === 'ok')) {
    out.push('diagnostics', diagnosticsTable(report.scenarios), '');
  }
  if (report.scenarios.some((r) => r.status === 'ok' && r.tenant)) {
    const capacity = report.scenarios.find((r) => r.tenant)?.tenant?.capacity_per_s;
    out.push(
      `tenant protection (the tenant takes ${show(capacity)} calls/s; goodput = items succeeded per second ÷ that)`,
      tenantTable(report.scenarios),
      '',
    );
  }
  const c = report.comparisons;
  out.push('comparisons');
  const a = report.scenarios.find((r) => r.id === 'a' && r.status === 'ok');
  if (a?.bare && a.client && a.ideal_s > 0) {
    out.push(
      `  a: efficiency of the service ${show(a.efficiency, 3)}, of the axios client loop ${show(round(a.ideal_s / a.client.wall_s, 3), 3)}, of the bare loop ${show(round(a.ideal_s / a.bare.wall_s, 3), 3)} (same calls, same simulator)`,
    );
  }
  out.push(
    `  b: service ÷ bare loop, CPU per item: ${show(c.b_cpu_ratio_vs_bare, 2)}×; throughput: ${show(c.b_throughput_ratio_vs_bare, 2)}×`,
  );
  out.push(
    `  b: axios client loop ÷ bare loop, CPU per item: ${show(c.b_client_cpu_ratio_vs_bare, 2)}× (the HTTP client stack alone, no orchestration)`,
  );
  const silent =
    c.b_otlp_exports === 0 ? ' (b exported no span: tracing is not active in the service)' : '';
  out.push(
    `  observability (b on vs b-otel-off): CPU per item ${signed(c.observability_cpu_cost_pct)}, items/s ${signed(
      c.observability_throughput_cost_pct === null ? null : -c.observability_throughput_cost_pct,
    )}${silent}`,
  );
  for (const r of c.redis_vs_memory) {
    const replicas = `${r.replicas} replica${r.replicas === 1 ? '' : 's'}`;
    out.push(
      `  store: ${r.scenario.padEnd(8)} ${r.store}, ${replicas}: efficiency ${show(r.efficiency, 3)}, CPU ${show(r.cpu_us_per_item, 1)} µs/item`,
    );
  }
  const failover = report.scenarios.find((r) => r.id === 'failover' && r.status === 'ok');
  if (failover) {
    out.push(
      `  failover: SIGKILL of the replica running the batch → its first call on the other replica ${show(failover.failover_s, 2)} s; calls made twice ${show(failover.repeated_calls)} (max_workers ${failover.max_workers})`,
    );
  }
  out.push('', 'targets');
  for (const t of report.targets) {
    const verdict = t.pass === null ? 'n/a ' : t.pass ? 'PASS' : 'FAIL';
    out.push(
      `  ${verdict}  ${t.id} ${t.op} ${t.threshold}  (measured ${show(t.value, TARGET_DIGITS[t.metric] ?? 1)})`,
    );
  }
  const notes = report.scenarios.flatMap((r) => [
    ...(r.reason ? [`${r.id}: ${r.status}: ${r.reason}`] : []),
    ...r.notes.map((n) => `${r.id}: ${n}`),
  ]);
  if (notes.length > 0) out.push('', 'notes', ...notes.map((n) => `  ${n}`));
  return out.join('\n');
}

function signed(pct: number | null): string {
  if (pct === null) return '-';
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)}%`;
}

export function writeReport(path: string, report: Report): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
}
