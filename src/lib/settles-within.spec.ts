import { setTimeout as sleep } from 'node:timers/promises';
import { settlesWithin, within } from './settles-within.js';

const timers = (): number =>
  process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;

describe('settlesWithin', () => {
  it('is true when the promise settles in time, rejections included, and leaves no timer', async () => {
    const before = timers();
    for (let i = 0; i < 3; i++) {
      await expect(settlesWithin(sleep(5), 60_000)).resolves.toBe(true);
      await expect(settlesWithin(Promise.reject(new Error('no')), 60_000)).resolves.toBe(true);
    }
    // Six 60 s timers left behind would show here (other timers of the runner may have ended).
    expect(timers()).toBeLessThanOrEqual(before);
  });

  it('is false once the time has run out', async () => {
    const started = Date.now();
    await expect(settlesWithin(new Promise(() => undefined), 30)).resolves.toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });
});

describe('within', () => {
  it("is the promise's own outcome when it settles in time", async () => {
    await expect(within(Promise.resolve(7), 60_000, 'late')).resolves.toBe(7);
    await expect(within(Promise.reject(new Error('no')), 60_000, 'late')).rejects.toThrow('no');
  });

  it('rejects with the timeout message once the time has run out', async () => {
    await expect(within(new Promise(() => undefined), 30, 'no answer')).rejects.toThrow(
      'no answer',
    );
  });
});
