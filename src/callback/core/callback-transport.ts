/** How one POST of a callback ended. */
export type PostOutcome =
  /** The receiver answered (any status); `retryAfterSeconds` from its Retry-After header. */
  | { kind: 'answered'; status: number; retryAfterSeconds?: number }
  /** Not sent: the host resolves to an address callbacks may not reach. No connection was made. */
  | { kind: 'refused'; reason: string }
  /** No answer: name not resolved, connection failed or reset, TLS refused, aborted. */
  | { kind: 'unreachable'; reason: string };

/**
 * Sends one callback: resolves the host, refuses addresses outside what CALLBACK_ALLOWED_HOSTS
 * allows, connects to the address it checked (no second lookup) and POSTs, never following a
 * redirect. Bound to `PinnedHttpTransport` (node:http and node:https).
 */
export abstract class CallbackTransport {
  abstract post(
    url: string,
    headers: Record<string, string>,
    body: string,
    signal: AbortSignal,
  ): Promise<PostOutcome>;
}
