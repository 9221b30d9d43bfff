import { ZERO_FAULT_PROFILE, faultProfileView, parseFaultProfile } from './fault-profile.js';
import { mulberry32 } from './prng.js';

describe('parseFaultProfile', () => {
  it('fills every default for an empty profile', () => {
    expect(parseFaultProfile({})).toEqual(ZERO_FAULT_PROFILE);
  });

  it('normalises a full profile and shows it back in wire form', () => {
    const input = {
      latency_ms: 10,
      jitter_ms: 5,
      error_rate: 0.2,
      error_status: 503,
      rate_limit_rate: 0.1,
      retry_after_seconds: 3,
      retry_after_format: 'http-date' as const,
      hang_rate: 0.01,
      fail_first: { attempts: 2, status: 502 },
      non_json_rate: 0.05,
      non_json_status: 500,
      max_in_flight: 20,
      max_per_second: 400,
    };
    expect(faultProfileView(parseFaultProfile(input))).toEqual(input);
  });

  it('accepts null for no capacity', () => {
    const profile = parseFaultProfile({ max_in_flight: null, max_per_second: null });
    expect(profile.maxInFlight).toBeNull();
    expect(profile.maxPerSecond).toBeNull();
  });

  it('defaults fail_first.status to 503 and accepts fail_first null', () => {
    expect(parseFaultProfile({ fail_first: { attempts: 1 } }).failFirst).toEqual({
      attempts: 1,
      status: 503,
    });
    expect(parseFaultProfile({ fail_first: null }).failFirst).toBeNull();
  });

  it.each([
    [[], 'profile'],
    [{ nope: 1 }, 'nope'],
    [{ latency_ms: 600_001 }, 'latency_ms'],
    [{ jitter_ms: Number.NaN }, 'jitter_ms'],
    [{ error_rate: -0.1 }, 'error_rate'],
    [{ error_status: 200 }, 'error_status'],
    [{ error_status: 500.5 }, 'error_status'],
    [{ rate_limit_rate: '0.5' }, 'rate_limit_rate'],
    [{ retry_after_seconds: 1.5 }, 'retry_after_seconds'],
    [{ retry_after_format: 'minutes' }, 'retry_after_format'],
    [{ hang_rate: 2 }, 'hang_rate'],
    [{ fail_first: 3 }, 'fail_first'],
    [{ fail_first: {} }, 'fail_first.attempts'],
    [{ fail_first: { attempts: 1, extra: 1 } }, 'fail_first.extra'],
    [{ non_json_status: 100 }, 'non_json_status'],
    [{ max_in_flight: 0 }, 'max_in_flight'],
    [{ max_in_flight: 2.5 }, 'max_in_flight'],
    [{ max_per_second: '10' }, 'max_per_second'],
  ])('refuses %j naming %s', (input, field) => {
    expect(() => parseFaultProfile(input)).toThrow(expect.objectContaining({ field }));
  });
});

describe('mulberry32', () => {
  it('is reproducible per seed and stays in [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const c = mulberry32(43);
    const seqA = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(seqA);
    expect(c()).not.toBe(seqA[0]);
    expect(Math.min(...seqA)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...seqA)).toBeLessThan(1);
    const mean = seqA.reduce((sum, x) => sum + x, 0) / seqA.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
  });
});
