import { Injectable } from '@nestjs/common';
import {
  type CircuitPermit,
  type CircuitState,
  CircuitStateStore,
  type CircuitStatus,
  MAX_SEEN_ACTIONS,
  SEEN_TTL_MS,
} from '../circuit-state.store.js';

interface Entry {
  failures: number;
  /** 0 = closed. */
  openUntil: number;
  /** 0 = no probe lease. */
  probeUntil: number;
  forced: boolean;
}

/**
 * Breaker state of this process only. An action that is closed with no failures and not forced
 * has no entry, so the map holds only actions that are currently failing or forced.
 */
@Injectable()
export class InMemoryCircuitStateStore extends CircuitStateStore {
  private readonly entries = new Map<string, Entry>();
  /** Action id → last call, least recent first. */
  private readonly seen = new Map<string, number>();

  async tryAcquire(actionId: string, now: number, probeLeaseMs: number): Promise<CircuitPermit> {
    this.noteSeen(actionId, now);
    const entry = this.entries.get(actionId);
    if (entry === undefined) return 'closed';
    if (entry.forced) return 'open';
    if (entry.openUntil === 0) return 'closed';
    if (now < entry.openUntil || now < entry.probeUntil) return 'open';
    entry.probeUntil = now + probeLeaseMs;
    return 'probe';
  }

  async recordSuccess(actionId: string, probe: boolean): Promise<CircuitState | null> {
    const entry = this.entries.get(actionId);
    if (entry === undefined || entry.forced) return null;
    if (entry.openUntil === 0) {
      this.entries.delete(actionId);
      return null;
    }
    if (!probe) return null;
    this.entries.delete(actionId);
    return 'half-open';
  }

  async recordFailure(
    actionId: string,
    probe: boolean,
    now: number,
    threshold: number,
    openMs: number,
  ): Promise<CircuitState | null> {
    let entry = this.entries.get(actionId);
    if (entry === undefined) {
      entry = { failures: 0, openUntil: 0, probeUntil: 0, forced: false };
      this.entries.set(actionId, entry);
    }
    if (entry.forced) return null;
    if (entry.openUntil !== 0) {
      if (!probe) return null;
      entry.failures++;
      entry.openUntil = now + openMs;
      entry.probeUntil = 0;
      return 'half-open';
    }
    entry.failures++;
    if (entry.failures < threshold) return null;
    entry.openUntil = now + openMs;
    entry.probeUntil = 0;
    return 'closed';
  }

  async releaseProbe(actionId: string): Promise<void> {
    const entry = this.entries.get(actionId);
    if (entry !== undefined) entry.probeUntil = 0;
  }

  async state(actionId: string, now: number): Promise<CircuitStatus> {
    return status(actionId, this.entries.get(actionId), now);
  }

  async snapshot(now: number): Promise<CircuitStatus[]> {
    return [...this.entries].map(([actionId, entry]) => status(actionId, entry, now));
  }

  async setForced(actionId: string, forced: boolean, now: number): Promise<CircuitStatus> {
    let entry = this.entries.get(actionId);
    if (forced) {
      entry ??= { failures: 0, openUntil: 0, probeUntil: 0, forced: false };
      entry.forced = true;
      this.entries.set(actionId, entry);
    } else if (entry !== undefined) {
      entry.forced = false;
      if (entry.openUntil === 0 && entry.failures === 0) this.entries.delete(actionId);
    }
    return this.state(actionId, now);
  }

  async list(now: number): Promise<CircuitStatus[]> {
    for (const [actionId, at] of this.seen) {
      if (at > now - SEEN_TTL_MS) break;
      this.seen.delete(actionId);
    }
    const actionIds = new Set([...this.seen.keys(), ...this.entries.keys()]);
    return [...actionIds]
      .sort()
      .map((actionId) => status(actionId, this.entries.get(actionId), now));
  }

  private noteSeen(actionId: string, now: number): void {
    // Delete first so that the map stays in order of last call.
    this.seen.delete(actionId);
    this.seen.set(actionId, now);
    if (this.seen.size > MAX_SEEN_ACTIONS) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }
}

function status(actionId: string, entry: Entry | undefined, now: number): CircuitStatus {
  if (entry === undefined || (entry.openUntil === 0 && !entry.forced)) {
    return {
      actionId,
      state: 'closed',
      forced: false,
      consecutiveFailures: entry?.failures ?? 0,
      openUntil: null,
      probeInFlight: false,
    };
  }
  return {
    actionId,
    state: entry.forced || now < entry.openUntil ? 'open' : 'half-open',
    forced: entry.forced,
    consecutiveFailures: entry.failures,
    openUntil: entry.openUntil === 0 ? null : entry.openUntil,
    probeInFlight: now < entry.probeUntil,
  };
}
