import { Injectable } from '@nestjs/common';
import {
  type CircuitPermit,
  type CircuitState,
  CircuitStateStore,
  type CircuitStatus,
} from '../circuit-state.store.js';

interface Entry {
  failures: number;
  /** 0 = closed. */
  openUntil: number;
  /** 0 = no probe lease. */
  probeUntil: number;
}

/**
 * Breaker state of this process only. An action that is closed with no failures has no
 * entry, so the map holds only actions that are currently failing.
 */
@Injectable()
export class InMemoryCircuitStateStore extends CircuitStateStore {
  private readonly entries = new Map<string, Entry>();

  async tryAcquire(actionId: string, now: number, probeLeaseMs: number): Promise<CircuitPermit> {
    const entry = this.entries.get(actionId);
    if (entry === undefined || entry.openUntil === 0) return 'closed';
    if (now < entry.openUntil || now < entry.probeUntil) return 'open';
    entry.probeUntil = now + probeLeaseMs;
    return 'probe';
  }

  async recordSuccess(actionId: string, probe: boolean): Promise<CircuitState | null> {
    const entry = this.entries.get(actionId);
    if (entry === undefined) return null;
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
      entry = { failures: 0, openUntil: 0, probeUntil: 0 };
      this.entries.set(actionId, entry);
    }
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
}

function status(actionId: string, entry: Entry | undefined, now: number): CircuitStatus {
  if (entry === undefined || entry.openUntil === 0) {
    return {
      actionId,
      state: 'closed',
      consecutiveFailures: entry?.failures ?? 0,
      openUntil: null,
      probeInFlight: false,
    };
  }
  return {
    actionId,
    state: now < entry.openUntil ? 'open' : 'half-open',
    consecutiveFailures: entry.failures,
    openUntil: entry.openUntil,
    probeInFlight: now < entry.probeUntil,
  };
}
