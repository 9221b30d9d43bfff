import { Injectable } from '@nestjs/common';
import { CallbackOutbox, type ClaimResult } from '../../callback/core/callback-outbox.js';
import {
  interruptedLastAttempt,
  type AttemptVerdict,
  type CallbackState,
  type ClaimedDelivery,
} from '../../callback/core/callback.types.js';
import type { NewDelivery } from '../core/batch-callback.js';

interface MemoryDelivery extends NewDelivery {
  state: CallbackState;
  /** Epoch ms: due for an attempt from then (after a backoff, or when a claim lapses). */
  dueAt: number;
  /** Epoch ms the batch ended. */
  createdAt: number;
}

/**
 * The outbox of the single-process store, written by `InMemoryBatchStore` in the same
 * synchronous step that ends a batch. Like the batches, nothing survives the process.
 */
@Injectable()
export class InMemoryCallbackOutbox extends CallbackOutbox {
  private readonly deliveries = new Map<string, MemoryDelivery>();
  /** Batch ids whose delivery is pending, oldest first (Map keeps insertion order). */
  private readonly pending = new Map<string, MemoryDelivery>();

  /** A batch ended: its delivery replaces any earlier one (a redriven batch ends again). */
  write(delivery: NewDelivery, now: number): void {
    const stored: MemoryDelivery = {
      ...delivery,
      report: structuredClone(delivery.report),
      state: { status: 'pending', attempts: 0, lastError: null, deliveredAt: null },
      dueAt: now,
      createdAt: now,
    };
    this.deliveries.set(delivery.batchId, stored);
    this.pending.delete(delivery.batchId);
    this.pending.set(delivery.batchId, stored);
  }

  /** The batch is gone (past its retention): so is its delivery. */
  forget(batchId: string): void {
    this.deliveries.delete(batchId);
    this.pending.delete(batchId);
  }

  async claimDue(
    now: number,
    leaseMs: number,
    limit: number,
    maxAttempts: number,
  ): Promise<ClaimResult> {
    const claimed: ClaimedDelivery[] = [];
    let exhausted = 0;
    for (const delivery of [...this.pending.values()]) {
      if (claimed.length >= limit) break;
      if (delivery.dueAt > now) continue;
      const { state } = delivery;
      if (state.attempts >= maxAttempts) {
        this.end(delivery, 'failed', interruptedLastAttempt(state.attempts));
        exhausted += 1;
        continue;
      }
      state.attempts += 1;
      delivery.dueAt = now + leaseMs;
      claimed.push({
        id: delivery.id,
        batchId: delivery.batchId,
        url: delivery.url,
        caller: delivery.caller,
        report: structuredClone(delivery.report),
        attempt: state.attempts,
      });
    }
    return { claimed, exhausted };
  }

  async settle(claimed: ClaimedDelivery, verdict: AttemptVerdict): Promise<boolean> {
    const delivery = this.deliveries.get(claimed.batchId);
    if (!delivery || delivery.id !== claimed.id || delivery.state.status !== 'pending')
      return false;
    if (verdict.kind === 'delivered') {
      delivery.state.deliveredAt = verdict.at;
      this.end(delivery, 'delivered');
      return true;
    }
    if (delivery.state.attempts !== claimed.attempt) return false;
    if (verdict.kind === 'failed') {
      this.end(delivery, 'failed', verdict.error);
    } else {
      delivery.state.lastError = verdict.error;
      delivery.dueAt = verdict.nextAttemptAt;
    }
    return true;
  }

  async stateOf(batchId: string): Promise<CallbackState | undefined> {
    const delivery = this.deliveries.get(batchId);
    return delivery ? { ...delivery.state } : undefined;
  }

  async pendingSummary(): Promise<{ count: number; oldestSince: number | undefined }> {
    let oldestSince: number | undefined;
    for (const delivery of this.pending.values())
      oldestSince = Math.min(oldestSince ?? delivery.createdAt, delivery.createdAt);
    return { count: this.pending.size, oldestSince };
  }

  private end(delivery: MemoryDelivery, status: 'delivered' | 'failed', error?: string): void {
    delivery.state.status = status;
    if (error !== undefined) delivery.state.lastError = error;
    this.pending.delete(delivery.batchId);
  }
}
