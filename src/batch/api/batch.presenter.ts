import type { BatchListEntry, BatchMeta, StoredItem } from '../core/batch.types.js';
import type { ItemDto } from './batch.dto.js';
import type { BatchView } from '../core/batch.service.js';

/** Maps stored batches to the wire format (snake_case, docs/api.md). */
export function statusUrlOf(batchId: string): string {
  return `/batch/${batchId}/status`;
}

export function acceptedBody(meta: BatchMeta) {
  return {
    batch_id: meta.batchId,
    status: meta.status,
    trace_id: meta.traceId,
    status_url: statusUrlOf(meta.batchId),
  };
}

function itemBody({ index, id, outcome }: StoredItem): ItemDto {
  if (!outcome) return { id, index, status: 'pending', attempts: 0 };
  const body: ItemDto = { id, index, status: outcome.status };
  switch (outcome.status) {
    case 'success':
      body.data = outcome.data;
      body.cached = outcome.cached ?? false;
      break;
    case 'degraded':
      body.data = outcome.data;
      body.reason = outcome.reason;
      break;
    default:
      body.error = outcome.error;
      body.error_code = outcome.errorCode;
  }
  body.attempts = outcome.attempts;
  body.latency_ms = outcome.latencyMs;
  return body;
}

export function statusBody(view: BatchView) {
  const { meta, summary, latency, limits, page, offset, limit } = view;
  const done = summary.total - summary.pending;
  return {
    batch_id: meta.batchId,
    action_id: meta.actionId,
    status: meta.status,
    failure_reason: meta.failureReason ?? null,
    caller: meta.caller,
    trace_id: meta.traceId,
    created_at: meta.createdAt,
    started_at: meta.startedAt,
    finished_at: meta.finishedAt,
    progress: summary.total === 0 ? 1 : Math.round((done / summary.total) * 10000) / 10000,
    summary,
    latency_ms: latency,
    limits: {
      max_workers: limits.maxWorkers,
      effective_workers: limits.effectiveWorkers,
      paused_until: limits.pausedUntil,
    },
    redrive_count: meta.redriveCount ?? 0,
    callback: view.callback && {
      status: view.callback.status,
      attempts: view.callback.attempts,
      last_error: view.callback.lastError,
      delivered_at: view.callback.deliveredAt,
    },
    items: page.items.map(itemBody),
    pagination: { offset, limit, total: page.total },
  };
}

export function listEntryBody(entry: BatchListEntry) {
  return {
    batch_id: entry.batchId,
    action_id: entry.actionId,
    caller: entry.caller,
    status: entry.status,
    created_at: entry.createdAt,
    summary: entry.summary,
  };
}
