/**
 * Span attribute names of this service's own spans (no semantic convention covers them).
 * The HTTP ones come from @opentelemetry/semantic-conventions.
 */
export const ATTR = {
  actionId: 'cxone.action_id',
  attempt: 'cxone.attempt',
  outcome: 'cxone.outcome',
  cached: 'cxone.cached',
  circuitState: 'cxone.circuit_state',
  batchId: 'batch.id',
  itemIndex: 'batch.item_index',
} as const;
