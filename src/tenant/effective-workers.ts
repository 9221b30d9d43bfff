import type { ActionLimits } from './tenant-budget.js';

/**
 * What a batch may use now (its `limits.effective_workers`): its `max_workers`, within its fair
 * share of the action's adaptive limit (the limit filled up evenly among the action's running
 * batches, none above what it asks, as the gate's round robin hands out the slots) and within
 * CXONE_TENANT_MAX_CONCURRENCY. At least 1: round robin gives every batch turns.
 */
export function effectiveWorkers(
  batchId: string,
  maxWorkers: number,
  limits: ActionLimits,
  tenantMaxConcurrency: number | undefined,
): number {
  let workers = maxWorkers;
  if (limits.limit !== null) {
    const asks = new Map(limits.asks);
    asks.set(batchId, maxWorkers);
    workers = Math.min(workers, fairShare(limits.limit, asks, batchId));
  }
  if (tenantMaxConcurrency !== undefined) workers = Math.min(workers, tenantMaxConcurrency);
  return Math.max(1, workers);
}

/** Water-filling: the smallest asks are met in full, the rest share what is left evenly. */
export function fairShare(
  limit: number,
  asks: ReadonlyMap<string, number>,
  batchId: string,
): number {
  const ordered = [...asks].sort(([idA, a], [idB, b]) => a - b || (idA < idB ? -1 : 1));
  let left = limit;
  for (let i = 0; i < ordered.length; i++) {
    const [id, ask] = ordered[i];
    const waiting = ordered.length - i;
    const even = Math.floor(left / waiting);
    if (ask <= even) {
      if (id === batchId) return ask;
      left -= ask;
      continue;
    }
    // Every batch from here asks more than an even split: each gets the split, the remainder
    // goes one each to the first in this order.
    const rank = ordered.findIndex(([other]) => other === batchId) - i;
    return even + (rank < left % waiting ? 1 : 0);
  }
  return 0;
}
