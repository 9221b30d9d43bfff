/** Where a batch's callback stands, as the status body shows it under `callback`. */
export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface CallbackState {
  status: DeliveryStatus;
  /** Attempts made (or under way) so far. */
  attempts: number;
  lastError: string | null;
  deliveredAt: string | null;
}

/** The state of a batch that has a callback_url and has not ended yet: nothing attempted. */
export const NOT_YET_SENT: CallbackState = {
  status: 'pending',
  attempts: 0,
  lastError: null,
  deliveredAt: null,
};

/** The batch's counts as the callback reports them (the status body's `summary`). */
export interface CallbackSummary {
  total: number;
  successful: number;
  failed: number;
  degraded: number;
  cancelled: number;
  pending: number;
}

/** What the callback says, frozen when the batch ended (a redrive later does not change it). */
export interface CallbackReport {
  batchId: string;
  /** The batch's final status: completed, cancelled or failed. */
  status: string;
  summary: CallbackSummary;
  traceId: string;
}

/** One delivery handed to this process for one attempt. */
export interface ClaimedDelivery {
  /** `webhook-id`: the same on every attempt of this delivery, on every replica. */
  id: string;
  batchId: string;
  url: string;
  /** The batch's owner, whose secret signs (`default` for batches without one). */
  caller: string;
  report: CallbackReport;
  /** This attempt's number, from 1. */
  attempt: number;
}

/** What one attempt decided. */
export type AttemptVerdict =
  | { kind: 'delivered'; at: string }
  | { kind: 'retry'; error: string; nextAttemptAt: number }
  | { kind: 'failed'; error: string };

/** The body POSTed: `{batch_id, status, summary, trace_id}` (docs/api.md), byte for byte the same on every attempt. */
export function callbackBody(report: CallbackReport): string {
  const { total, successful, failed, degraded, cancelled, pending } = report.summary;
  return JSON.stringify({
    batch_id: report.batchId,
    status: report.status,
    summary: { total, successful, failed, degraded, cancelled, pending },
    trace_id: report.traceId,
  });
}

/** A new `webhook-id` (Standard Webhooks suggests a `msg_` prefix). */
export function newDeliveryId(uuid: string): string {
  return `msg_${uuid.replaceAll('-', '')}`;
}

/** `last_error` of a delivery whose last allowed attempt never reported (its process died). */
export function interruptedLastAttempt(attempts: number): string {
  return `attempt ${attempts}, the last, was cut short (its process stopped) before it got an answer`;
}
