import type { AttemptVerdict, CallbackState, ClaimedDelivery } from './callback.types.js';

export interface ClaimResult {
  claimed: ClaimedDelivery[];
  /**
   * Deliveries whose last allowed attempt never reported (its process died): marked failed by
   * the claim instead of being handed out.
   */
  exhausted: number;
}

/**
 * The callback outbox: deliveries written by the batch store in the same step that ends the batch
 * (`BatchStore.markFinished` and `cancel` of a queued batch), so that no ended batch goes without
 * its callback. Bound to the adapter of the configured store (memory, Redis), which writes
 * them and shares their storage.
 *
 * A delivery is `pending` until an attempt succeeds (`delivered`) or it may be tried no more
 * (`failed`). A process claims a due delivery for one attempt: the claim counts the attempt and
 * leases the delivery; if the process dies, the lease lapses and any process claims it again, with
 * the same id.
 */
export abstract class CallbackOutbox {
  /**
   * Claims up to `limit` deliveries due at `now` (epoch ms), one attempt each: counts it and
   * makes the delivery due again only at `now + leaseMs`. A delivery that already had
   * `maxAttempts` attempts is failed instead (see `ClaimResult.exhausted`).
   */
  abstract claimDue(
    now: number,
    leaseMs: number,
    limit: number,
    maxAttempts: number,
  ): Promise<ClaimResult>;

  /**
   * Records what an attempt decided, if the delivery is still pending and still the same one
   * (a new end of the batch, after a redrive, writes a new delivery). A retry or failure counts
   * only from the latest attempt (another process may have taken the delivery over after the
   * lease lapsed); a success counts from any. True if recorded.
   */
  abstract settle(delivery: ClaimedDelivery, verdict: AttemptVerdict): Promise<boolean>;

  /** The batch's delivery as the status body shows it; undefined if the batch has none yet. */
  abstract stateOf(batchId: string): Promise<CallbackState | undefined>;

  /** Pending deliveries, and when the oldest of them was written (epoch ms), over every process. */
  abstract pendingSummary(): Promise<{ count: number; oldestSince: number | undefined }>;
}
