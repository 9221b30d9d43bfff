/** What a caller may do now: call normally, call as the single half-open probe, or not call. */
export type CircuitPermit = 'closed' | 'probe' | 'open';

export type CircuitState = 'closed' | 'open' | 'half-open';

/** An action not called for this long leaves the list of circuits (unless it has state). */
export const SEEN_TTL_MS = 86_400_000;
/** Most actions listed as seen; past it the least recently seen are forgotten first. */
export const MAX_SEEN_ACTIONS = 10_000;

export interface CircuitTransition {
  actionId: string;
  from: CircuitState;
  to: CircuitState;
  /** Epoch milliseconds, from the breaker's clock. */
  at: number;
}

export interface CircuitStatus {
  actionId: string;
  /** `open` while forced open (see `forced`). */
  state: CircuitState;
  /** Held open by an operator until set back to automatic: no call goes through, no result moves it. */
  forced: boolean;
  consecutiveFailures: number;
  /** Epoch ms until which calls are refused; null while closed. */
  openUntil: number | null;
  /** A probe holds the half-open lease. */
  probeInFlight: boolean;
}

/**
 * Where breaker state lives (port). Every method is one atomic step over one action's state
 * (`failures`, `openUntil`, `probeUntil`), so a Redis implementation can run each as a single
 * Lua script and replicas share one breaker per action. Times are passed in, never read from
 * a clock inside, so the store has no opinion about time and tests can drive it.
 *
 * State per action: closed (openUntil = 0), open (now < openUntil), half-open
 * (openUntil <= now). The half-open probe holds a lease (`probeUntil`) that expires on its own,
 * so a probe whose replica died does not block the action forever. Over that, an operator may
 * force the circuit open (`forced`): every call is refused and results are ignored until it is
 * set back to automatic, which finds the automatic state as it was.
 */
export abstract class CircuitStateStore {
  /**
   * forced → 'open'; closed → 'closed'; open → 'open'; half-open with no live probe lease → takes
   * the lease until `now + probeLeaseMs` and returns 'probe'; half-open with a live lease → 'open'.
   * Remembers the action as seen at `now` (for `list`).
   */
  abstract tryAcquire(actionId: string, now: number, probeLeaseMs: number): Promise<CircuitPermit>;

  /**
   * A call succeeded. As the probe: closes the circuit. As a normal call: resets the
   * consecutive-failure count while closed; ignored while open, so a call that started before
   * the circuit opened cannot close it; ignored while forced. Returns the previous state when
   * this call changed the state, else null. `now` only dates a view the store may keep of the state.
   */
  abstract recordSuccess(
    actionId: string,
    probe: boolean,
    now: number,
  ): Promise<CircuitState | null>;

  /**
   * A call failed. As the probe: re-opens until `now + openMs`. As a normal call while closed:
   * counts it and opens at `threshold` consecutive failures; ignored while open or forced.
   * Returns the previous state when this call changed the state, else null.
   */
  abstract recordFailure(
    actionId: string,
    probe: boolean,
    now: number,
    threshold: number,
    openMs: number,
  ): Promise<CircuitState | null>;

  /** The probe ended with no verdict (cancelled, token failure): frees the lease at once. */
  abstract releaseProbe(actionId: string): Promise<void>;

  abstract state(actionId: string, now: number): Promise<CircuitStatus>;

  /** Every action whose state is not "closed with no failures". */
  abstract snapshot(now: number): Promise<CircuitStatus[]>;

  /** Forces the circuit open (`true`) or gives it back to the automatic breaker (`false`). */
  abstract setForced(actionId: string, forced: boolean, now: number): Promise<CircuitStatus>;

  /**
   * Every action called within the last day (`tryAcquire`), with state or not, and every forced
   * one, by action id.
   */
  abstract list(now: number): Promise<CircuitStatus[]>;
}
