import { formatSeconds, progressLine, WatchedBatch } from './progress.js';
import type { BatchStatus } from './service-client.js';

function status(done: number, total: number, finished = false): BatchStatus {
  return {
    batch_id: 'b',
    action_id: 'a',
    status: finished ? 'completed' : 'running',
    trace_id: 't',
    created_at: '',
    started_at: null,
    finished_at: finished ? 'now' : null,
    progress: done / total,
    summary: {
      total,
      successful: done,
      failed: 0,
      degraded: 0,
      cancelled: 0,
      pending: total - done,
    },
    latency_ms: { p50: null, p95: null, max: null },
    items: [],
    pagination: { offset: 0, limit: 1, total },
  };
}

describe('WatchedBatch', () => {
  it('measures items per second over its recent samples and the time left at that rate', () => {
    const batch = new WatchedBatch('b');
    batch.record(status(0, 1000), 0);
    expect(batch.rate()).toBeUndefined();
    batch.record(status(100, 1000), 1000);
    batch.record(status(300, 1000), 2000);
    expect(batch.rate()).toBe(150);
    expect(batch.etaSeconds()).toBeCloseTo(700 / 150);
  });

  it('forgets samples older than its window, so the rate follows a change of pace', () => {
    const batch = new WatchedBatch('b');
    batch.record(status(0, 10_000), 0);
    for (let second = 1; second <= 20; second++) {
      batch.record(
        status(second <= 10 ? second * 10 : 100 + (second - 10) * 200, 10_000),
        second * 1000,
      );
    }
    expect(batch.rate()).toBe(200);
  });

  it('says "-" for what it cannot tell yet and 0 s left once finished', () => {
    const batch = new WatchedBatch('b');
    batch.record(status(0, 10), 0);
    expect(progressLine(batch)).toBe(
      'b  running  0/10  (0%)  - items/s  ETA -  success 0  failed 0  degraded 0  cancelled 0',
    );
    batch.record(status(10, 10, true), 1000);
    expect(batch.etaSeconds()).toBe(0);
  });
});

describe('formatSeconds', () => {
  it('writes seconds, minutes and hours compactly', () => {
    expect(formatSeconds(4.4)).toBe('4s');
    expect(formatSeconds(125)).toBe('2m05s');
    expect(formatSeconds(3 * 3600 + 7 * 60)).toBe('3h07m');
    expect(formatSeconds(undefined)).toBe('-');
    expect(formatSeconds(Infinity)).toBe('-');
  });
});
