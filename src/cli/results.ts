import { once } from 'node:events';
import { stringify } from 'csv-stringify/sync';
import type { BatchItem, ServiceClient } from './service-client.js';

export type ResultFormat = 'jsonl' | 'csv';

/** The most items the status route returns in one page. */
const PAGE_SIZE = 1000;

/** Columns of the CSV export: the item's fields, its `data` as JSON text. */
export const RESULT_COLUMNS = [
  'id',
  'index',
  'status',
  'attempts',
  'latency_ms',
  'cached',
  'reason',
  'error_code',
  'error',
  'data',
] as const;

function csvRecord(item: BatchItem): Record<(typeof RESULT_COLUMNS)[number], string> {
  const text = (value: string | number | boolean | undefined) =>
    value === undefined ? '' : String(value);
  return {
    id: text(item.id),
    index: text(item.index),
    status: item.status,
    attempts: text(item.attempts),
    latency_ms: text(item.latency_ms),
    cached: text(item.cached),
    reason: text(item.reason),
    error_code: text(item.error_code),
    error: text(item.error),
    data: item.data === undefined ? '' : JSON.stringify(item.data),
  };
}

function render(items: BatchItem[], format: ResultFormat, header: boolean): string {
  if (format === 'jsonl') return items.map((item) => `${JSON.stringify(item)}\n`).join('');
  return stringify(items.map(csvRecord), { header, columns: [...RESULT_COLUMNS] });
}

/**
 * Writes every item of a batch (or those with one status) to `out`, a page at a time: memory
 * holds one page, whatever the batch's size. Returns the number of items written.
 */
export async function writeResults(
  client: ServiceClient,
  batchId: string,
  options: { status?: string; format: ResultFormat; out: NodeJS.WritableStream },
): Promise<number> {
  let offset = 0;
  for (;;) {
    const page = await client.status(batchId, {
      offset,
      limit: PAGE_SIZE,
      status: options.status,
    });
    const header = offset === 0;
    if (page.items.length > 0 || header) {
      const text =
        page.items.length === 0 && options.format === 'csv'
          ? `${RESULT_COLUMNS.join(',')}\n`
          : render(page.items, options.format, header);
      if (!options.out.write(text)) await once(options.out, 'drain');
    }
    offset += page.items.length;
    if (page.items.length === 0 || offset >= page.pagination.total) return offset;
  }
}
