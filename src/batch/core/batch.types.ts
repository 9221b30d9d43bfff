import type { ErrorCode } from '../../lib/domain-error.js';

export const ITEM_STATUSES = ['success', 'failed', 'degraded', 'cancelled', 'pending'] as const;
export type ItemStatus = (typeof ITEM_STATUSES)[number];
export type FinalItemStatus = Exclude<ItemStatus, 'pending'>;
export type BatchStatus = 'queued' | 'running' | 'completed' | 'cancelled' | 'failed';

/** Why a batch ended `failed`. */
export type FailureReason = 'TOLERATED_FAILURE_EXCEEDED';

/** The outcomes a redrive may send back to `pending`, and those it does when none are named. */
export const REDRIVABLE_STATUSES = ['failed', 'degraded', 'cancelled'] as const;
export type RedrivableStatus = (typeof REDRIVABLE_STATUSES)[number];
export const DEFAULT_REDRIVE_STATUSES: readonly RedrivableStatus[] = ['failed', 'cancelled'];

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
  /** The batch's calls in flight at most; `PATCH /batch/{id}` changes it while the batch runs. */
  maxWorkers: number;
  timeoutMs: number;
  cacheTtlSeconds: number;
  callbackUrl?: string;
  /** Absent: 100 (failures never stop the batch). */
  toleratedFailurePercent?: number;
  toleratedFailureCount?: number;
}

/** A batch as it is stored, without its items. */
export interface BatchMeta {
  batchId: string;
  actionId: string;
  /** The caller that submitted it: only it (and ADMIN_CALLERS) may see or act on the batch. */
  caller: string;
  status: BatchStatus;
  traceId: string;
  /** The caller's span (from `traceparent`), so the run joins the caller's trace. */
  parentSpanId?: string;
  traceFlags?: string;
  /** The caller's W3C `tracestate`, forwarded unchanged on the batch's CXone calls. */
  traceState?: string;
  options: BatchOptions;
  total: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Set when the batch ended `failed`; absent otherwise. */
  failureReason?: FailureReason;
  /** Times the batch was redriven; absent: never. */
  redriveCount?: number;
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
  caller: string;
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

/**
 * Whether `failed` items are more than the batch tolerates: over `total × percent / 100`, or over
 * the count when one is set.
 */
export function toleranceExceeded(failed: number, total: number, options: BatchOptions): boolean {
  const percent = options.toleratedFailurePercent ?? 100;
  if (failed > (total * percent) / 100) return true;
  return options.toleratedFailureCount !== undefined && failed > options.toleratedFailureCount;
}
