import { randomUUID } from 'node:crypto';
import { newDeliveryId, type CallbackReport } from '../../callback/core/callback.types.js';
import type { BatchMeta, BatchSummary } from './batch.types.js';

/** A callback delivery as a batch store writes it when the batch ends. */
export interface NewDelivery {
  id: string;
  batchId: string;
  url: string;
  caller: string;
  report: CallbackReport;
}

/**
 * The delivery a store writes in the step that ends `meta`'s batch (status and summary as they
 * are at its end), or undefined when the batch has no callback_url.
 */
export function deliveryAtEnd(meta: BatchMeta, summary: BatchSummary): NewDelivery | undefined {
  const url = meta.options.callbackUrl;
  if (url === undefined) return undefined;
  return {
    id: newDeliveryId(randomUUID()),
    batchId: meta.batchId,
    url,
    caller: meta.caller,
    report: {
      batchId: meta.batchId,
      status: meta.status,
      summary: { ...summary },
      traceId: meta.traceId,
    },
  };
}
