/**
 * Waits for `promise` to settle (resolved or rejected), at most `ms`: true if it settled, false if
 * the time ran out. The timer is cleared either way, so a race that ended early does not hold the
 * process (a stopping service, a test runner's worker) for the rest of `ms`.
 */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The promise's own outcome if it settles within `ms`; otherwise a rejection with
 * `Error(timeoutMessage)` (the promise itself is left to settle on its own).
 */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
  timeoutMessage: string,
): Promise<T> {
  if (!(await settlesWithin(promise, ms))) throw new Error(timeoutMessage);
  return promise;
}
