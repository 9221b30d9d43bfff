export type ScenarioId = 'a' | 'b' | 'b-otel-off' | 'c' | 'redis-a1' | 'redis-a2' | 'failover';

export const SCENARIO_IDS: readonly ScenarioId[] = [
  'a',
  'b',
  'b-otel-off',
  'c',
  'redis-a1',
  'redis-a2',
  'failover',
];

export interface Scenario {
  id: ScenarioId;
  description: string;
  items: number;
  maxWorkers: number;
  /** Fixed simulator latency of every execute call. */
  latencyMs: number;
  chunkSize: number;
  /** Service processes on one Redis prefix; the batch is submitted to the first. */
  replicas: number;
  redis: boolean;
  /** on: traces exported to a local OTLP sink, metrics enabled; off: OTEL_SDK_DISABLED, METRICS_ENABLED=false. */
  observability: 'on' | 'off';
  /**
   * Also run the reference loops (bare keep-alive HTTP; the service's axios stack) against the
   * same simulator: a CPU reference in `b`, an efficiency reference in `a`.
   */
  bareReference: boolean;
  /** Kill the replica running the batch (SIGKILL) and time the fail-over (bench/failover.ts). */
  killOwner: boolean;
}

export const DEFAULT_CHUNK_SIZE = 100;

/**
 * The scenarios and targets of bench/README.md; `quick` scales item counts down 10× for a smoke
 * run; `chunkSize` replaces every scenario's chunk_size (to see what it does to the figures).
 */
export function scenarios(quick: boolean, chunkSize = DEFAULT_CHUNK_SIZE): Scenario[] {
  const scale = (items: number): number => (quick ? Math.round(items / 10) : items);
  const a = {
    items: scale(20_000),
    maxWorkers: 100,
    latencyMs: 50,
    chunkSize,
    replicas: 1,
    redis: false,
    observability: 'on',
    bareReference: false,
    killOwner: false,
  } as const;
  const b = { ...a, items: scale(20_000), maxWorkers: 64, latencyMs: 0 } as const;
  return [
    {
      ...a,
      id: 'a',
      bareReference: true,
      description: 'latency-bound: does the service keep max_workers calls in flight?',
    },
    {
      ...b,
      id: 'b',
      bareReference: true,
      description: 'CPU-bound: orchestration overhead against a bare HTTP loop',
    },
    {
      ...b,
      id: 'b-otel-off',
      observability: 'off',
      description: 'scenario b with tracing and metrics off',
    },
    {
      ...a,
      id: 'c',
      items: scale(100_000),
      latencyMs: 5,
      description: 'one maximal batch: memory and status-poll latency while it runs',
    },
    {
      ...a,
      id: 'redis-a1',
      redis: true,
      description: 'scenario a on the Redis store, one replica',
    },
    {
      ...a,
      id: 'redis-a2',
      redis: true,
      replicas: 2,
      description: 'scenario a on the Redis store, two replicas',
    },
    {
      ...a,
      id: 'failover',
      redis: true,
      replicas: 2,
      observability: 'off',
      killOwner: true,
      description:
        'Redis, two replicas: the one running the batch is SIGKILLed; time to its first call on the other',
    },
  ];
}

/** Little's law: with L calls in flight, each taking W, N items need N × W ÷ L. */
export function idealSeconds(scenario: Scenario): number {
  return (scenario.items * scenario.latencyMs) / scenario.maxWorkers / 1000;
}
