import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { loadConfig } from '../../config/load-config.js';
import { InMemoryCallbackOutbox } from '../../batch/memory/in-memory-callback.outbox.js';
import { CallbackDispatcher, LEASE_MARGIN_MS, POLL_INTERVAL_MS } from './callback-dispatcher.js';
import { CallbackSigner } from './callback-signer.js';
import { CallbackTelemetry, type AttemptOutcome } from './callback-telemetry.js';
import { CallbackTransport, type PostOutcome } from './callback-transport.js';

// The dispatcher over the in-memory outbox, with a scripted transport and Jest's fake clock:
// when each attempt happens, what each answer leads to, and what a shutdown leaves behind.

const FIRST_DELAY_MS = 1000;
const TIMEOUT_MS = 2000;
const T0 = 1_700_000_000_000;

interface Sent {
  at: number;
  headers: Record<string, string>;
  body: string;
}

/** Answers from a script, one per POST; a function answer may wait (for the abort signal). */
class ScriptedTransport extends CallbackTransport {
  readonly sent: Sent[] = [];
  constructor(
    private readonly script: (PostOutcome | ((signal: AbortSignal) => Promise<PostOutcome>))[],
  ) {
    super();
  }
  async post(
    _url: string,
    headers: Record<string, string>,
    body: string,
    signal: AbortSignal,
  ): Promise<PostOutcome> {
    this.sent.push({ at: Date.now(), headers, body });
    const next = this.script.shift() ?? { kind: 'answered', status: 200 };
    return typeof next === 'function' ? next(signal) : next;
  }
}

class RecordingTelemetry extends CallbackTelemetry {
  readonly attempts: AttemptOutcome[] = [];
  readonly endings: string[] = [];
  attempted(outcome: AttemptOutcome): void {
    this.attempts.push(outcome);
  }
  ended(outcome: string, count = 1): void {
    this.endings.push(...Array<string>(count).fill(outcome));
  }
}

const answered = (status: number, retryAfterSeconds?: number): PostOutcome => ({
  kind: 'answered',
  status,
  ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
});
const untilAborted = (signal: AbortSignal): Promise<PostOutcome> =>
  new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve({ kind: 'unreachable', reason: 'aborted' })),
  );
const never = (): Promise<PostOutcome> => new Promise(() => undefined);

function setup(script: ConstructorParameters<typeof ScriptedTransport>[0], maxAttempts = 4) {
  const config = loadConfig({
    CXONE_SIMULATOR: 'true',
    CXONE_API_URL: 'http://127.0.0.1:9',
    AUTH_DISABLED: 'true',
    CALLBACK_SECRET: 'dispatcher-secret-0123',
    CALLBACK_MAX_ATTEMPTS: String(maxAttempts),
    CALLBACK_RETRY_DELAY_MS: String(FIRST_DELAY_MS),
    CALLBACK_TIMEOUT_MS: String(TIMEOUT_MS),
  });
  const outbox = new InMemoryCallbackOutbox();
  const transport = new ScriptedTransport(script);
  const telemetry = new RecordingTelemetry();
  const ended = telemetry.endings;
  const dispatcher = new CallbackDispatcher(
    config,
    outbox,
    transport,
    new CallbackSigner(config),
    telemetry,
  );
  outbox.write(
    {
      id: 'msg_fixed',
      batchId: 'batch-1',
      url: 'https://hooks.example.com/done',
      caller: 'default',
      report: {
        batchId: 'batch-1',
        status: 'completed',
        summary: { total: 2, successful: 2, failed: 0, degraded: 0, cancelled: 0, pending: 0 },
        traceId: 'a'.repeat(32),
      },
    },
    Date.now(),
  );
  return { config, outbox, transport, telemetry, ended, dispatcher };
}

beforeAll(() => Logger.overrideLogger(false));
beforeEach(() => {
  jest.useFakeTimers({ now: T0 });
  jest.spyOn(Math, 'random').mockReturnValue(0.5); // jitter factor 1: the delays are exact
});
afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

describe('CallbackDispatcher', () => {
  it('retries a 503 after the first delay, then twice that, and stops at the first success, one id throughout', async () => {
    const { outbox, transport, telemetry, ended, dispatcher } = setup([
      answered(503),
      answered(503),
      answered(204),
    ]);
    dispatcher.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(10 * FIRST_DELAY_MS);

    expect(transport.sent.map((sent) => sent.at - T0)).toEqual([
      0,
      FIRST_DELAY_MS,
      FIRST_DELAY_MS + 2 * FIRST_DELAY_MS,
    ]);
    expect(new Set(transport.sent.map((sent) => sent.headers['webhook-id']))).toEqual(
      new Set(['msg_fixed']),
    );
    expect(new Set(transport.sent.map((sent) => sent.body)).size).toBe(1);
    expect(transport.sent.map((sent) => sent.headers['webhook-timestamp'])).toEqual(
      transport.sent.map((sent) => String(Math.floor(sent.at / 1000))),
    );
    expect(await outbox.stateOf('batch-1')).toEqual({
      status: 'delivered',
      attempts: 3,
      lastError: 'answered 503',
      deliveredAt: new Date(T0 + 3 * FIRST_DELAY_MS).toISOString(),
    });
    expect(telemetry.attempts).toEqual(['server_error', 'server_error', 'success']);
    expect(ended).toEqual(['delivered']);
    await dispatcher.drain(0);
  });

  it('gives up after CALLBACK_MAX_ATTEMPTS, saying so in last_error, and tries no more', async () => {
    const { outbox, transport, ended, dispatcher } = setup(
      Array.from({ length: 10 }, () => answered(500)),
      4,
    );
    dispatcher.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(3_600_000);

    expect(transport.sent.map((sent) => sent.at - T0)).toEqual([0, 1000, 3000, 7000]);
    expect(await outbox.stateOf('batch-1')).toEqual({
      status: 'failed',
      attempts: 4,
      lastError: 'answered 500 (attempt 4, the last)',
      deliveredAt: null,
    });
    expect(ended).toEqual(['failed']);
    expect(await outbox.pendingSummary()).toEqual({ count: 0, oldestSince: undefined });
    await dispatcher.drain(0);
  });

  it('retries network errors, timeouts and 408 too', async () => {
    const { outbox, transport, telemetry, dispatcher } = setup([
      { kind: 'unreachable', reason: 'connect ECONNREFUSED 203.0.113.7:443' },
      answered(408),
      answered(200),
    ]);
    dispatcher.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(60_000);
    expect(transport.sent).toHaveLength(3);
    expect(telemetry.attempts).toEqual(['network_error', 'timeout', 'success']);
    expect(await outbox.stateOf('batch-1')).toMatchObject({ status: 'delivered', attempts: 3 });
    await dispatcher.drain(0);
  });

  it.each([
    [answered(404), 'answered 404', 'client_error'],
    [answered(410), 'answered 410', 'client_error'],
    [answered(302), 'answered 302; redirects are not followed', 'redirect'],
    [
      {
        kind: 'refused',
        reason: 'refused: hooks.example.com resolves to 10.0.0.1, a private address',
      },
      'refused: hooks.example.com resolves to 10.0.0.1, a private address',
      'refused_address',
    ],
  ] as [PostOutcome, string, AttemptOutcome][])(
    'fails at once, without retrying, on %j',
    async (outcome, lastError, label) => {
      const { outbox, transport, telemetry, dispatcher } = setup([outcome]);
      dispatcher.onApplicationBootstrap();
      await jest.advanceTimersByTimeAsync(3_600_000);
      expect(transport.sent).toHaveLength(1);
      expect(telemetry.attempts).toEqual([label]);
      expect(await outbox.stateOf('batch-1')).toEqual({
        status: 'failed',
        attempts: 1,
        lastError,
        deliveredAt: null,
      });
      await dispatcher.drain(0);
    },
  );

  it('waits at least what a 429’s Retry-After asks', async () => {
    const { transport, dispatcher } = setup([answered(429, 30), answered(200)]);
    dispatcher.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(29_000);
    expect(transport.sent).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(2000);
    expect(transport.sent.map((sent) => sent.at - T0)).toEqual([0, 30_000]);
    await dispatcher.drain(0);
  });

  it('signs every attempt anew: a new timestamp, a signature over it', async () => {
    const { transport, dispatcher } = setup([answered(500), answered(200)]);
    dispatcher.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(5000);
    const [first, second] = transport.sent;
    expect(first.headers['webhook-timestamp']).not.toBe(second.headers['webhook-timestamp']);
    expect(first.headers['webhook-signature']).not.toBe(second.headers['webhook-signature']);
    expect(first.headers['x-orchestrator-signature']).toBe(
      second.headers['x-orchestrator-signature'],
    );
    await dispatcher.drain(0);
  });

  it('on shutdown, waits for an attempt under way within the grace, then hands it back for the next process', async () => {
    const { outbox, transport, config, dispatcher } = setup([untilAborted]);
    dispatcher.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(0);
    expect(transport.sent).toHaveLength(1);

    const drained = dispatcher.drain(1500);
    await jest.advanceTimersByTimeAsync(1499);
    expect(await outbox.stateOf('batch-1')).toMatchObject({ status: 'pending', lastError: null });
    await jest.advanceTimersByTimeAsync(1);
    await drained;
    expect(await outbox.stateOf('batch-1')).toEqual({
      status: 'pending',
      attempts: 1,
      lastError: 'interrupted: the service shut down during the attempt',
      deliveredAt: null,
    });

    // The next process takes it at once, with the same id.
    const next = new ScriptedTransport([answered(200)]);
    const successor = new CallbackDispatcher(config, outbox, next, new CallbackSigner(config));
    successor.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(0);
    expect(next.sent.map((sent) => sent.headers['webhook-id'])).toEqual(['msg_fixed']);
    expect(await outbox.stateOf('batch-1')).toMatchObject({ status: 'delivered', attempts: 2 });
    await successor.drain(0);
  });

  it('lets another process take over an attempt whose process went silent, once its claim lapses', async () => {
    const { outbox, transport, config, dispatcher } = setup([never]);
    // One poll and no more: the process hangs in its attempt, as one frozen or killed would.
    dispatcher.wake();
    await jest.advanceTimersByTimeAsync(0);
    expect(transport.sent).toHaveLength(1);

    const other = new ScriptedTransport([answered(200)]);
    const replica = new CallbackDispatcher(config, outbox, other, new CallbackSigner(config));
    replica.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(TIMEOUT_MS + LEASE_MARGIN_MS - POLL_INTERVAL_MS);
    expect(other.sent).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(POLL_INTERVAL_MS);
    expect(other.sent.map((sent) => sent.headers['webhook-id'])).toEqual(['msg_fixed']);
    expect(await outbox.stateOf('batch-1')).toMatchObject({ status: 'delivered', attempts: 2 });
    await replica.drain(0);
  });

  it('fails a delivery whose last attempt never reported, instead of exceeding the attempts', async () => {
    const { outbox, transport, config, dispatcher } = setup([never], 1);
    dispatcher.wake();
    await jest.advanceTimersByTimeAsync(0);
    expect(transport.sent).toHaveLength(1);

    const telemetry = new RecordingTelemetry();
    const other = new ScriptedTransport([]);
    const replica = new CallbackDispatcher(
      config,
      outbox,
      other,
      new CallbackSigner(config),
      telemetry,
    );
    replica.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(TIMEOUT_MS + LEASE_MARGIN_MS + POLL_INTERVAL_MS);
    expect(other.sent).toHaveLength(0);
    expect(await outbox.stateOf('batch-1')).toEqual({
      status: 'failed',
      attempts: 1,
      lastError: 'attempt 1, the last, was cut short (its process stopped) before it got an answer',
      deliveredAt: null,
    });
    expect(telemetry.endings).toEqual(['failed']);
    await replica.drain(0);
  });
});
