import { type SimulatorHandle, startSimulator } from '../src/simulator/simulator.server.js';

// Fault profiles and determinism, observed over real HTTP on 127.0.0.1.

async function issueToken(sim: SimulatorHandle): Promise<string> {
  const res = await fetch(`${sim.url}/platform/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&client_id=sim-client&client_secret=sim-secret',
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

function execute(
  sim: SimulatorHandle,
  token: string,
  actionId: string,
  options: { requestId?: string; signal?: AbortSignal } = {},
): Promise<Response> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
  };
  if (options.requestId !== undefined) headers['x-request-id'] = options.requestId;
  return fetch(`${sim.url}/api/v2/data-actions/${encodeURIComponent(actionId)}/execute`, {
    method: 'POST',
    headers,
    body: '{"n":1}',
    signal: options.signal,
  });
}

async function timed(call: () => Promise<Response>): Promise<{ ms: number; res: Response }> {
  const started = performance.now();
  const res = await call();
  await res.arrayBuffer();
  return { ms: performance.now() - started, res };
}

async function statuses(sim: SimulatorHandle, actionId: string, count: number): Promise<number[]> {
  const token = await issueToken(sim);
  const result: number[] = [];
  for (let i = 0; i < count; i++) {
    const res = await execute(sim, token, actionId, { requestId: `r${i}` });
    await res.arrayBuffer();
    result.push(res.status);
  }
  return result;
}

describe('CXone simulator: fault profiles', () => {
  let sim: SimulatorHandle;
  let token: string;

  beforeAll(async () => {
    sim = await startSimulator({ port: 0 });
  });
  afterAll(async () => {
    await sim.close();
  });
  beforeEach(async () => {
    sim.reset();
    for (const id of Object.keys(sim.profiles())) sim.deleteProfile(id);
    token = await issueToken(sim);
  });

  it('answers at once with no profile, and after latency_ms with one', async () => {
    sim.setProfile('slow', { latency_ms: 150 });

    const fast = await timed(() => execute(sim, token, 'fast'));
    const slow = await timed(() => execute(sim, token, 'slow'));

    expect(fast.res.status).toBe(200);
    expect(fast.ms).toBeLessThan(100);
    expect(slow.res.status).toBe(200);
    expect(slow.ms).toBeGreaterThanOrEqual(145);
    expect(slow.ms).toBeLessThan(400);
  });

  it('adds a uniform jitter bounded by jitter_ms', async () => {
    sim.setProfile('jittery', { latency_ms: 30, jitter_ms: 100 });

    const times = await Promise.all(
      Array.from(
        { length: 12 },
        async () => (await timed(() => execute(sim, token, 'jittery'))).ms,
      ),
    );

    for (const ms of times) {
      expect(ms).toBeGreaterThanOrEqual(28);
      expect(ms).toBeLessThan(130 + 100);
    }
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(10);
  });

  it('answers error_status with a JSON error body at error_rate 1', async () => {
    sim.setProfile('broken', { error_rate: 1, error_status: 503 });

    const res = await execute(sim, token, 'broken');

    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: 'simulated', message: 'simulated 503' });
    expect(sim.stats().actions.broken.statuses).toEqual({ '503': 1 });
  });

  it('answers 429 with Retry-After in seconds', async () => {
    sim.setProfile('limited', { rate_limit_rate: 1, retry_after_seconds: 7 });

    const res = await execute(sim, token, 'limited');

    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(await res.json()).toEqual({ error: 'simulated', message: 'simulated 429' });
  });

  it('answers 429 with Retry-After as an HTTP date', async () => {
    sim.setProfile('limited', {
      rate_limit_rate: 1,
      retry_after_seconds: 5,
      retry_after_format: 'http-date',
    });

    const res = await execute(sim, token, 'limited');
    const header = res.headers.get('retry-after') ?? '';
    const waitMs = Date.parse(header) - Date.now();

    expect(res.status).toBe(429);
    expect(header).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    expect(waitMs).toBeGreaterThan(4000);
    expect(waitMs).toBeLessThanOrEqual(6000);
  });

  it('never answers a hung call; the client times out and the hang is counted', async () => {
    sim.setProfile('stuck', { hang_rate: 1 });

    const started = performance.now();
    const outcome = await execute(sim, token, 'stuck', { signal: AbortSignal.timeout(200) }).then(
      (res) => `answered ${res.status}`,
      (error: Error) => error.name,
    );

    expect(outcome).toBe('TimeoutError');
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(sim.stats().actions.stuck).toMatchObject({ calls: 1, hangs: 1, statuses: {} });
    await waitFor(() => sim.stats().in_flight === 0);
    expect(sim.stats().actions.stuck.in_flight).toBe(0);
  });

  it('fails the first K attempts of each X-Request-Id, then succeeds', async () => {
    sim.setProfile('flaky', { fail_first: { attempts: 2, status: 502 } });

    const first = [];
    for (let i = 0; i < 3; i++)
      first.push((await execute(sim, token, 'flaky', { requestId: 'a' })).status);
    const other = await execute(sim, token, 'flaky', { requestId: 'b' });

    expect(first).toEqual([502, 502, 200]);
    expect(other.status).toBe(502);
    expect(sim.attempts('a')).toBe(3);
    expect(sim.stats().actions.flaky.statuses).toEqual({ '200': 1, '502': 3 });
  });

  it('applies fail_first before error_rate, and error_rate after it', async () => {
    sim.setProfile('both', { fail_first: { attempts: 1, status: 504 }, error_rate: 1 });

    const first = await execute(sim, token, 'both', { requestId: 'x' });
    const second = await execute(sim, token, 'both', { requestId: 'x' });

    expect([first.status, second.status]).toEqual([504, 500]);
  });

  it('answers text/html instead of JSON at non_json_rate 1, with non_json_status', async () => {
    sim.setProfile('html200', { non_json_rate: 1 });
    sim.setProfile('html500', { non_json_rate: 1, non_json_status: 500 });

    const ok = await execute(sim, token, 'html200');
    const failed = await execute(sim, token, 'html500');

    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await ok.text()).toBe('<html>oops</html>');
    expect(failed.status).toBe(500);
    expect(await failed.text()).toBe('<html>oops</html>');
  });

  it("falls back to the '*' profile for actions without their own", async () => {
    sim.setProfile('*', { error_rate: 1, error_status: 500 });
    sim.setProfile('healthy', {});

    expect((await execute(sim, token, 'anything')).status).toBe(500);
    expect((await execute(sim, token, 'healthy')).status).toBe(200);
    sim.deleteProfile('*');
    expect((await execute(sim, token, 'anything')).status).toBe(200);
  });

  it('counts in-flight calls while they wait their latency (peak 10 of 10 concurrent)', async () => {
    sim.setProfile('slow', { latency_ms: 100 });

    const all = Promise.all(
      Array.from({ length: 10 }, (_, i) => execute(sim, token, 'slow', { requestId: `c${i}` })),
    );
    await waitFor(() => sim.stats().in_flight === 10);
    const during = sim.stats();
    const responses = await all;

    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(during.actions.slow.in_flight).toBe(10);
    await waitFor(() => sim.stats().in_flight === 0);
    expect(sim.stats()).toMatchObject({
      calls: 10,
      peak_in_flight: 10,
      actions: { slow: { in_flight: 0, peak_in_flight: 10 } },
    });
  });

  it('answers 429 without Retry-After to a call arriving while max_in_flight are in flight', async () => {
    sim.setProfile('capacity.inflight', { latency_ms: 200, max_in_flight: 2 });
    const first = [0, 1].map((i) =>
      execute(sim, token, 'capacity.inflight', { requestId: `f${i}` }),
    );
    await waitFor(() => sim.stats().actions['capacity.inflight']?.in_flight === 2);
    const refused = await Promise.all(
      [2, 3].map((i) => execute(sim, token, 'capacity.inflight', { requestId: `f${i}` })),
    );
    expect(refused.map((r) => r.status)).toEqual([429, 429]);
    expect(refused.map((r) => r.headers.get('retry-after'))).toEqual([null, null]);
    expect((await Promise.all(first)).map((r) => r.status)).toEqual([200, 200]);
    // A refused call holds no capacity: once the two have ended, a call is taken again.
    expect((await execute(sim, token, 'capacity.inflight')).status).toBe(200);
    expect(sim.stats().actions['capacity.inflight']).toMatchObject({
      calls: 5,
      statuses: { '200': 3, '429': 2 },
      max_in_flight_refusals: 2,
      max_per_second_refusals: 0,
    });
    // Each recent call shows how it was answered.
    const calls = sim.recentCalls().filter((c) => c.action_id === 'capacity.inflight');
    expect(Object.fromEntries(calls.map((c) => [c.request_id ?? 'last', c.status]))).toEqual({
      f0: 200,
      f1: 200,
      f2: 429,
      f3: 429,
      last: 200,
    });
  });

  it("answers 429 with the profile's Retry-After beyond max_per_second in a second", async () => {
    sim.setProfile('capacity.rate', { max_per_second: 3, retry_after_seconds: 2 });
    const started = Date.now();
    const answers: Response[] = [];
    for (let i = 0; i < 5; i++) answers.push(await execute(sim, token, 'capacity.rate'));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 429, 429]);
    expect(answers[3].headers.get('retry-after')).toBe('2');
    await waitFor(() => Date.now() >= started + 1000);
    expect((await execute(sim, token, 'capacity.rate')).status).toBe(200);
    const stats = sim.stats();
    expect(stats.actions['capacity.rate']).toMatchObject({
      max_per_second_refusals: 2,
      max_in_flight_refusals: 0,
    });
    expect(stats.max_per_second_refusals).toBeGreaterThanOrEqual(2);
  });
});

describe('CXone simulator: determinism', () => {
  const sims: SimulatorHandle[] = [];
  afterEach(async () => {
    await Promise.all(sims.splice(0).map((s) => s.close()));
  });

  async function start(seed: number): Promise<SimulatorHandle> {
    const sim = await startSimulator({ port: 0, seed, profiles: { '*': { error_rate: 0.5 } } });
    sims.push(sim);
    return sim;
  }

  it('gives the same status sequence for the same seed and request order', async () => {
    const a = await statuses(await start(7), 'coin', 24);
    const b = await statuses(await start(7), 'coin', 24);
    const other = await statuses(await start(8), 'coin', 24);

    expect(a).toEqual(b);
    expect(a).toContain(200);
    expect(a).toContain(500);
    expect(other).not.toEqual(a);
  });

  it('reseeds on reset, so a reused simulator repeats its sequence', async () => {
    const sim = await start(7);
    const before = await statuses(sim, 'coin', 16);
    sim.reset();
    expect(await statuses(sim, 'coin', 16)).toEqual(before);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
