import type { BatchList, BatchStatus, BatchSummary } from './service-client.js';

const NONE = '-';

function ms(value: number | null | undefined): string {
  return value === null || value === undefined ? NONE : `${value} ms`;
}

function summaryText(summary: BatchSummary): string {
  return (
    `${summary.total} total, ${summary.successful} success, ${summary.failed} failed, ` +
    `${summary.degraded} degraded, ${summary.cancelled} cancelled, ${summary.pending} pending`
  );
}

function callbackText(status: BatchStatus): string {
  const callback = status.callback;
  if (callback === undefined || callback === null) return 'none';
  const attempts = `${callback.attempts} attempt${callback.attempts === 1 ? '' : 's'}`;
  const parts = [callback.status, attempts];
  if (callback.delivered_at) parts.push(`at ${callback.delivered_at}`);
  if (callback.last_error) parts.push(`last error: ${callback.last_error}`);
  return parts.join(', ');
}

/** The status body as aligned "label  value" lines, for a person. */
export function describeStatus(status: BatchStatus): string {
  const percent = `${(status.progress * 100).toFixed(1)} %`;
  const rows: [string, string][] = [
    ['Batch', status.batch_id],
    ['Action', status.action_id],
    ['Caller', status.caller ?? NONE],
    [
      'Status',
      `${status.status}${status.failure_reason ? ` (${status.failure_reason})` : ''}, ${percent}`,
    ],
    ['Items', summaryText(status.summary)],
    [
      'Latency',
      `p50 ${ms(status.latency_ms.p50)}, p95 ${ms(status.latency_ms.p95)}, max ${ms(status.latency_ms.max)}`,
    ],
    [
      'Limits',
      status.limits
        ? `max_workers ${status.limits.max_workers}, effective ${status.limits.effective_workers}, ` +
          `paused until ${status.limits.paused_until ?? NONE}`
        : NONE,
    ],
    ['Redrives', String(status.redrive_count ?? 0)],
    ['Callback', callbackText(status)],
    ['Created', status.created_at],
    ['Started', status.started_at ?? NONE],
    ['Finished', status.finished_at ?? NONE],
    ['Trace', status.trace_id],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}

/** Rows as columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column].length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column])))
      .join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

export function describeList(list: BatchList): string {
  if (list.batches.length === 0) return 'No batches.';
  return table(
    ['BATCH', 'ACTION', 'CALLER', 'STATUS', 'CREATED', 'DONE', 'SUCCESS', 'FAILED', 'DEGRADED'],
    list.batches.map((batch) => [
      batch.batch_id,
      batch.action_id,
      batch.caller ?? NONE,
      batch.status,
      batch.created_at,
      `${batch.summary.total - batch.summary.pending}/${batch.summary.total}`,
      String(batch.summary.successful),
      String(batch.summary.failed),
      String(batch.summary.degraded),
    ]),
  );
}
