import type { IncomingHttpHeaders } from 'node:http';

export type ClientAuthMethod = 'body' | 'basic' | 'none';

export interface LastTokenRequest {
  grant_type: string | null;
  scope: string | null;
  client_auth: ClientAuthMethod;
}

export interface ActionStats {
  calls: number;
  in_flight: number;
  peak_in_flight: number;
  statuses: Record<string, number>;
  hangs: number;
  /** Calls answered 429 (no Retry-After) because `max_in_flight` calls were in flight. */
  max_in_flight_refusals: number;
  /** Calls answered 429 (with Retry-After) because `max_per_second` had started in the last second. */
  max_per_second_refusals: number;
}

export interface SimulatorStats {
  token_requests: number;
  token_failures: number;
  last_token_request: LastTokenRequest | null;
  discovery_requests: number;
  calls: number;
  in_flight: number;
  peak_in_flight: number;
  max_in_flight_refusals: number;
  max_per_second_refusals: number;
  actions: Record<string, ActionStats>;
  request_ids: number;
  /** Request ids dropped (oldest first) to stay within the simulator's `maxRequestIds`. */
  request_ids_forgotten: number;
  max_attempts_per_request_id: number;
}

/** One execute call as received; header values are null when the header was absent. */
export interface RecordedCall {
  received_at: string;
  action_id: string;
  request_id: string | null;
  attempt: number;
  traceparent: string | null;
  tracestate: string | null;
  x_trace_id: string | null;
  x_span_id: string | null;
  content_type: string | null;
  accept: string | null;
  /** The status answered; null while the call is still open (or hangs). */
  status: number | null;
}

/** Where a call is recorded among the recent calls, so that its answer's status lands there. */
export interface CallTicket {
  attempt: number;
  slot: CallSlot | undefined;
  seq: number;
}

/** Counters of one action id; mutated in place on the hot path. */
export class ActionCounters {
  calls = 0;
  inFlight = 0;
  peakInFlight = 0;
  hangs = 0;
  statuses = new Map<number, number>();
  /** Calls past the capacity checks and not answered yet: what `max_in_flight` bounds. */
  admitted = 0;
  refusedInFlight = 0;
  refusedPerSecond = 0;
  /** Admission times of the last `max_per_second` calls (ring), what `max_per_second` bounds. */
  private starts: Float64Array = new Float64Array(0);
  private oldestStart = 0;
  /** The id already JSON-encoded, so success bodies are built without re-encoding it. */
  readonly idJson: string;

  constructor(readonly actionId: string) {
    this.idJson = JSON.stringify(actionId);
  }

  /**
   * Whether one more call may start now with at most `perSecond` started in the last second
   * (counted if so). A refused call does not count: the tenant did not take it.
   */
  startWithin(perSecond: number, now: number): boolean {
    if (this.starts.length !== perSecond) {
      this.starts = new Float64Array(perSecond).fill(Number.NEGATIVE_INFINITY);
      this.oldestStart = 0;
    }
    if (this.starts[this.oldestStart] > now - 1000) return false;
    this.starts[this.oldestStart] = now;
    this.oldestStart = (this.oldestStart + 1) % perSecond;
    return true;
  }
}

export interface CallSlot {
  seq: number;
  status: number | null;
  receivedAtMs: number;
  actionId: string;
  requestId: string | null;
  attempt: number;
  traceparent: string | null;
  tracestate: string | null;
  xTraceId: string | null;
  xSpanId: string | null;
  contentType: string | null;
  accept: string | null;
}

/**
 * Everything the simulator counts. In-flight figures are gauges: reset() zeroes the
 * counters but keeps the calls still open (hung or waiting their latency) in flight,
 * so they never go negative when those calls end.
 */
export class SimulatorState {
  tokenRequests = 0;
  tokenFailures = 0;
  lastTokenRequest: LastTokenRequest | null = null;
  discoveryRequests = 0;
  calls = 0;
  inFlight = 0;
  peakInFlight = 0;
  maxAttempts = 0;
  forgottenRequestIds = 0;
  refusedInFlight = 0;
  refusedPerSecond = 0;
  private callSeq = 0;

  private actions = new Map<string, ActionCounters>();
  private readonly attemptsByRequestId = new Map<string, number>();
  /** Ring buffer of recent calls; slots are reused to avoid an allocation per call. */
  private readonly ring: CallSlot[] = [];
  private ringNext = 0;

  /**
   * `ringCapacity`: recent calls kept. `maxRequestIds`: request ids whose attempts are counted; a
   * new id beyond it makes the simulator forget the oldest (its next call counts as attempt 1).
   */
  constructor(
    private readonly ringCapacity: number,
    private readonly maxRequestIds: number,
  ) {}

  action(actionId: string): ActionCounters {
    let counters = this.actions.get(actionId);
    if (counters === undefined) {
      counters = new ActionCounters(actionId);
      this.actions.set(actionId, counters);
    }
    return counters;
  }

  /**
   * Counts a call as it arrives; its ticket has its attempt number for its X-Request-Id (1 if
   * none) and where it is recorded.
   */
  beginCall(
    action: ActionCounters,
    requestId: string | null,
    headers: IncomingHttpHeaders,
  ): CallTicket {
    this.calls++;
    action.calls++;
    if (++this.inFlight > this.peakInFlight) this.peakInFlight = this.inFlight;
    if (++action.inFlight > action.peakInFlight) action.peakInFlight = action.inFlight;

    let attempt = 1;
    if (requestId !== null) {
      const earlier = this.attemptsByRequestId.get(requestId);
      if (earlier === undefined && this.attemptsByRequestId.size >= this.maxRequestIds) {
        // A Map iterates in insertion order: the first key is the id seen first.
        const oldest = this.attemptsByRequestId.keys().next().value as string;
        this.attemptsByRequestId.delete(oldest);
        this.forgottenRequestIds++;
      }
      attempt = (earlier ?? 0) + 1;
      this.attemptsByRequestId.set(requestId, attempt);
      if (attempt > this.maxAttempts) this.maxAttempts = attempt;
    }
    const slot = this.recordCall(action.actionId, requestId, attempt, headers);
    return { attempt, slot, seq: slot?.seq ?? 0 };
  }

  endCall(action: ActionCounters): void {
    this.inFlight--;
    action.inFlight--;
  }

  recordStatus(action: ActionCounters, status: number, ticket?: CallTicket): void {
    action.statuses.set(status, (action.statuses.get(status) ?? 0) + 1);
    // The slot may have been reused by a later call meanwhile.
    if (ticket?.slot !== undefined && ticket.slot.seq === ticket.seq) ticket.slot.status = status;
  }

  /** A call refused by the action's capacity (`max_in_flight` or `max_per_second`). */
  recordRefusal(action: ActionCounters, limit: 'in_flight' | 'per_second'): void {
    if (limit === 'in_flight') {
      this.refusedInFlight++;
      action.refusedInFlight++;
    } else {
      this.refusedPerSecond++;
      action.refusedPerSecond++;
    }
  }

  attempts(requestId: string): number {
    return this.attemptsByRequestId.get(requestId) ?? 0;
  }

  allAttempts(): Record<string, number> {
    return Object.fromEntries(this.attemptsByRequestId);
  }

  /** The most recent calls, oldest first. */
  recentCalls(limit = this.ringCapacity): RecordedCall[] {
    const size = this.ring.length;
    const count = Math.max(0, Math.min(limit, size));
    const result: RecordedCall[] = [];
    // When the ring is full, ringNext points at the oldest slot.
    const start = size < this.ringCapacity ? 0 : this.ringNext;
    for (let i = size - count; i < size; i++) {
      const slot = this.ring[(start + i) % size];
      result.push({
        received_at: new Date(slot.receivedAtMs).toISOString(),
        action_id: slot.actionId,
        request_id: slot.requestId,
        attempt: slot.attempt,
        traceparent: slot.traceparent,
        tracestate: slot.tracestate,
        x_trace_id: slot.xTraceId,
        x_span_id: slot.xSpanId,
        content_type: slot.contentType,
        accept: slot.accept,
        status: slot.status,
      });
    }
    return result;
  }

  stats(): SimulatorStats {
    const actions: Record<string, ActionStats> = {};
    for (const [id, a] of this.actions) {
      actions[id] = {
        calls: a.calls,
        in_flight: a.inFlight,
        peak_in_flight: a.peakInFlight,
        statuses: Object.fromEntries([...a.statuses].map(([s, n]) => [String(s), n])),
        hangs: a.hangs,
        max_in_flight_refusals: a.refusedInFlight,
        max_per_second_refusals: a.refusedPerSecond,
      };
    }
    return {
      token_requests: this.tokenRequests,
      token_failures: this.tokenFailures,
      last_token_request: this.lastTokenRequest && { ...this.lastTokenRequest },
      discovery_requests: this.discoveryRequests,
      calls: this.calls,
      in_flight: this.inFlight,
      peak_in_flight: this.peakInFlight,
      max_in_flight_refusals: this.refusedInFlight,
      max_per_second_refusals: this.refusedPerSecond,
      actions,
      request_ids: this.attemptsByRequestId.size,
      request_ids_forgotten: this.forgottenRequestIds,
      max_attempts_per_request_id: this.maxAttempts,
    };
  }

  reset(): void {
    this.tokenRequests = 0;
    this.tokenFailures = 0;
    this.lastTokenRequest = null;
    this.discoveryRequests = 0;
    this.calls = 0;
    this.peakInFlight = this.inFlight;
    this.maxAttempts = 0;
    this.forgottenRequestIds = 0;
    this.refusedInFlight = 0;
    this.refusedPerSecond = 0;
    this.attemptsByRequestId.clear();
    this.ring.length = 0;
    this.ringNext = 0;
    const open = new Map<string, ActionCounters>();
    for (const [id, a] of this.actions) {
      if (a.inFlight === 0) continue;
      a.calls = 0;
      a.hangs = 0;
      a.refusedInFlight = 0;
      a.refusedPerSecond = 0;
      a.statuses.clear();
      a.peakInFlight = a.inFlight;
      open.set(id, a);
    }
    this.actions = open;
  }

  private recordCall(
    actionId: string,
    requestId: string | null,
    attempt: number,
    headers: IncomingHttpHeaders,
  ): CallSlot | undefined {
    if (this.ringCapacity === 0) return undefined;
    let slot: CallSlot;
    if (this.ring.length < this.ringCapacity) {
      slot = {} as CallSlot;
      this.ring.push(slot);
    } else {
      slot = this.ring[this.ringNext];
    }
    this.ringNext = (this.ringNext + 1) % this.ringCapacity;
    slot.seq = ++this.callSeq;
    slot.status = null;
    slot.receivedAtMs = Date.now();
    slot.actionId = actionId;
    slot.requestId = requestId;
    slot.attempt = attempt;
    slot.traceparent = headerText(headers.traceparent);
    slot.tracestate = headerText(headers.tracestate);
    slot.xTraceId = headerText(headers['x-trace-id']);
    slot.xSpanId = headerText(headers['x-span-id']);
    slot.contentType = headerText(headers['content-type']);
    slot.accept = headerText(headers.accept);
    return slot;
  }
}

export function headerText(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return typeof value === 'string' ? value : value.join(', ');
}
