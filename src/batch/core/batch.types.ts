import type { ErrorCode } from '../../lib/domain-error.js';

export const ITEM_STATUSES = ['success', 'failed', 'degraded', 'cancelled', 'pending'] as const;
export type ItemStatus = (typeof ITEM_STATUSES)[number];
export type FinalItemStatus = Exclude<ItemStatus, 'pending'>;
export type BatchStatus = 'queued' | 'running' | 'completed' | 'cancelled';

/** What became of one item. `pending` items have no outcome stored. */
export interface ItemOutcome {
  status: FinalItemStatus;
  data?: unknown;
  cached?: boolean;
  reason?: string;
  error?: string;
  errorCode?: ErrorCode;
  attempts: number;
  latencyMs: number;
}

export interface BatchSummary {
  total: number;
  successful: number;
  failed: number;
  degraded: number;
  cancelled: number;
  pending: number;
}

export interface BatchOptions {
  chunkSize: number;
  maxWorkers: number;
  timeoutMs: number;
  cacheTtlSeconds: number;
  callbackUrl?: string;
}

/** A batch as it is stored, without its items. */
export interface BatchMeta {
  batchId: string;
  actionId: string;
  status: BatchStatus;
  traceId: string;
  /** The caller's span (from `traceparent`), so the run joins the caller's trace. */
  parentSpanId?: string;
  traceFlags?: string;
  /** The caller's W3C `tracestate`, forwarded unchanged on the batch's CXone calls. */
  traceState?: string;
  options: BatchOptions;
  /**
   * The caller that submitted the batch (its owner), whose callback secret signs its callback;
   * a batch without one belongs to `default`.
   */
  caller?: string;
  total: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface LatencySummary {
  p50: number;
  p95: number;
  max: number;
}

export interface StoredItem {
  index: number;
  /** The payload's `id` if it is a string or number, else the index as a string. */
  id: string | number;
  outcome: ItemOutcome | undefined;
}

export interface ItemPage {
  items: StoredItem[];
  total: number;
}

export interface BatchListEntry {
  batchId: string;
  actionId: string;
  status: BatchStatus;
  createdAt: string;
  summary: BatchSummary;
}

export const SUMMARY_FIELD: Record<ItemStatus, keyof BatchSummary> = {
  success: 'successful',
  failed: 'failed',
  degraded: 'degraded',
  cancelled: 'cancelled',
  pending: 'pending',
};

export function itemIdOf(payload: unknown, index: number): string | number {
  return ownIdOf(payload) ?? String(index);
}

/** The payload's `id` if it is a string or a finite number (`1e400` parses as Infinity). */
export function ownIdOf(payload: unknown): string | number | undefined {
  const id = (payload as { id?: unknown }).id;
  return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? id : undefined;
}

/** A `POST /batch/execute` body once validated: what the service accepts. */
export interface ParsedBatch {
  actionId: string;
  payloads: Record<string, unknown>[];
  options: BatchOptions;
}
