import { ActionLabels, AttributeCache, LocalCounter, OTHER_ACTION } from './action-labels.js';
import { callOutcome } from './orchestrator-metrics.service.js';

describe('ActionLabels', () => {
  it('keeps the first actions as labels and folds the rest into "other"', () => {
    const labels = new ActionLabels(2);
    expect(labels.of('a')).toBe('a');
    expect(labels.of('b')).toBe('b');
    expect(labels.of('c')).toBe(OTHER_ACTION);
    expect(labels.of('a')).toBe('a');
    expect([...labels.known()]).toEqual(['a', 'b']);
  });
});

describe('AttributeCache', () => {
  it('builds each combination once and hands back the same frozen object', () => {
    let built = 0;
    const cache = new AttributeCache((action, outcome) => {
      built++;
      return { action, outcome };
    });
    const first = cache.get('a', 'success');
    expect(cache.get('a', 'success')).toBe(first);
    expect(cache.get('a', 'timeout')).toEqual({ action: 'a', outcome: 'timeout' });
    expect(built).toBe(2);
    expect(Object.isFrozen(first)).toBe(true);
  });
});

describe('callOutcome', () => {
  it.each([
    [200, undefined, 'success'],
    [204, undefined, 'success'],
    [429, undefined, 'rate_limited'],
    [401, undefined, 'unauthorized'],
    [403, undefined, 'unauthorized'],
    [404, undefined, 'client_error'],
    [503, undefined, 'server_error'],
    [0, 'ETIMEDOUT', 'timeout'],
    [0, 'ECONNABORTED', 'timeout'],
    [0, 'ERR_CANCELED', 'cancelled'],
    [0, 'ECONNRESET', 'network_error'],
  ])('classifies %i %s as %s', (status, code, outcome) => {
    expect(callOutcome(status, code)).toBe(outcome);
  });
});

describe('LocalCounter', () => {
  it('adds per attribute object and reports the totals until detached', () => {
    const callbacks = new Set<
      (result: { observe(value: number, attributes?: object): void }) => void
    >();
    const counter = new LocalCounter({
      addCallback: (callback) => callbacks.add(callback),
      removeCallback: (callback) => callbacks.delete(callback),
    });
    const ok = { outcome: 'success' };
    const failed = { outcome: 'failed' };
    counter.add(1, ok);
    counter.add(2, ok);
    counter.add(1, failed);
    const seen: [number, object | undefined][] = [];
    for (const callback of callbacks)
      callback({ observe: (value, attributes) => seen.push([value, attributes]) });
    expect(seen).toEqual([
      [3, ok],
      [1, failed],
    ]);
    counter.detach();
    expect(callbacks.size).toBe(0);
  });
});
