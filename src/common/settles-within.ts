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
