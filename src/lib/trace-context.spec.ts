import {
  isValidSpanId,
  isValidTraceId,
  randomSpanId,
  traceparent,
  traceFlags,
} from './trace-context.js';

describe('trace context', () => {
  it('makes distinct, valid span ids across pool refills', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 2_000; i++) ids.add(randomSpanId());
    expect(ids.size).toBe(2_000);
    for (const id of ids) expect(isValidSpanId(id)).toBe(true);
  });

  it('formats a W3C traceparent', () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    expect(traceparent(traceId, '00f067aa0ba902b7', traceFlags({ traceId }))).toBe(
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    );
    expect(traceFlags({ traceId, sampled: false })).toBe('00');
    expect(traceFlags({ traceId, traceFlags: '00', sampled: true })).toBe('00');
    expect(traceFlags({ traceId, traceFlags: 'zz' })).toBe('01');
  });

  it('rejects malformed trace ids', () => {
    expect(isValidTraceId('4bf92f3577b34da6a3ce929d0e0e4736')).toBe(true);
    expect(isValidTraceId('0'.repeat(32))).toBe(false);
    expect(isValidTraceId('4BF92F3577B34DA6A3CE929D0E0E4736')).toBe(false);
    expect(isValidTraceId('abc')).toBe(false);
  });
});
