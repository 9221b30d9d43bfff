import { Injectable } from '@nestjs/common';

/** Knobs of token and discovery requests that are not configuration (tests shrink them). */
@Injectable()
export class TokenManagerOptions {
  /** Wait before retrying after a failed token or discovery request; doubles on each failure. */
  failureBackoffInitialMs = 250;
  failureBackoffMaxMs = 10_000;
  /** Timeout of one token or discovery request. */
  requestTimeoutMs = 10_000;
  /**
   * A token obtained because the previous one was refused (401) is not dropped again
   * within this time, so an action that always answers 401 cannot hammer the token endpoint.
   */
  forcedRefreshMinIntervalMs = 5_000;
  /** Epoch milliseconds. */
  now: () => number = Date.now;
}
