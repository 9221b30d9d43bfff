export type ScenarioId =
  | 'a'
  | 'b'
  | 'b-otel-off'
  | 'c'
  | 'a-sqlite'
  | 'c-sqlite'
  | 'ten-sqlite'
  | 'redis-a1'
  | 'redis-a2'
  | 'ten-redis'
  | 'failover'
  | 'tenant-1'
  | 'tenant-2'
  | 'tenant-cap-2';

export const SCENARIO_IDS: readonly ScenarioId[] = [
  'a',
  'b',
  'b-otel-off',
  'c',
  'a-sqlite',
  'c-sqlite',
  'ten-sqlite',
  'redis-a1',
  'redis-a2',
  'failover',
  'ten-redis',
  'tenant-1',
  'tenant-2',
  'tenant-cap-2',
];

export type Store = 'memory' | 'sqlite' | 'redis';

/** A tenant with a capacity (docs/tenant-protection.md): several batches asking more than it takes. */
export interface TenantSpec {
  /** Batches submitted at once; `items` and `max_workers` are each one's × this. */
  batches: number;
  /** The simulator action's `max_in_flight`: its capacity is this ÷ latency. */
  maxInFlight: number;
  /** CXONE_TENANT_MAX_CONCURRENCY of the service, if set. */
  tenantMaxConcurrency?: number;
  /** ADAPTIVE_CONCURRENCY of each run: the first is the scenario's figure, the others shown beside. */
  adaptive: readonly boolean[];
}

export interface Scenario {
  id: ScenarioId;
  description: string;
  /** Items of all the scenario's batches together. */
  items: number;
  /** Batches submitted at once, the items split evenly between them. */
  batches: number;
  /** `max_workers` of each batch. */
  maxWorkers: number;
  /** Fixed simulator latency of every execute call. */
  latencyMs: number;
  chunkSize: number;
  /** Service processes on one Redis prefix; the batch is submitted to the first. */
  replicas: number;
  /** STORE of the service; `sqlite` in a fresh DATA_DIR per scenario. */
  store: Store;
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
  tenant?: TenantSpec;
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
    batches: 1,
    maxWorkers: 100,
    latencyMs: 50,
    chunkSize,
    replicas: 1,
    store: 'memory',
    redis: false,
    observability: 'on',
    bareReference: false,
    killOwner: false,
  } as const;
  const b = { ...a, items: scale(20_000), maxWorkers: 64, latencyMs: 0 } as const;
  // Ten batches of 10 workers each: together the 100 calls CXONE_MAX_CONCURRENCY allows.
  const tenBatches = { ...a, items: scale(1_000_000), batches: 10, maxWorkers: 10, latencyMs: 5 };
  const tenant = {
    ...a,
    items: scale(10_000),
    tenant: { batches: 2, maxInFlight: 20, adaptive: [true, false] },
  } as const;
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
      id: 'a-sqlite',
      store: 'sqlite',
      description: 'scenario a on the sqlite store (the default without REDIS_URL)',
    },
    {
      ...a,
      id: 'c-sqlite',
      store: 'sqlite',
      items: scale(100_000),
      latencyMs: 5,
      description: 'scenario c on the sqlite store',
    },
    {
      ...tenBatches,
      id: 'ten-sqlite',
      store: 'sqlite',
      description:
        'ten 100,000-item batches accepted at once, sqlite store: does memory stay flat?',
    },
    {
      ...a,
      id: 'redis-a1',
      store: 'redis',
      redis: true,
      description: 'scenario a on the Redis store, one replica',
    },
    {
      ...a,
      id: 'redis-a2',
      store: 'redis',
      redis: true,
      replicas: 2,
      description: 'scenario a on the Redis store, two replicas',
    },
    {
      ...a,
      id: 'failover',
      store: 'redis',
      redis: true,
      replicas: 2,
      observability: 'off',
      killOwner: true,
      description:
        'Redis, two replicas: the one running the batch is SIGKILLed; time to its first call on the other',
    },
    {
      ...tenBatches,
      id: 'ten-redis',
      store: 'redis',
      redis: true,
      description: 'ten 100,000-item batches accepted at once, Redis store: does memory stay flat?',
    },
    {
      ...tenant,
      id: 'tenant-1',
      description: 'a tenant taking 20 calls at once, 2 batches asking 100 each: one process',
    },
    {
      ...tenant,
      id: 'tenant-2',
      store: 'redis',
      redis: true,
      replicas: 2,
      description: 'the same tenant, 2 replicas on Redis (one batch each)',
    },
    {
      ...tenant,
      id: 'tenant-cap-2',
      store: 'redis',
      redis: true,
      replicas: 2,
      tenant: { ...tenant.tenant, tenantMaxConcurrency: 20, adaptive: [false] },
      description: 'the same on 2 replicas with CXONE_TENANT_MAX_CONCURRENCY=20, adaptation off',
    },
  ];
}

/**
 * Little's law: with L calls in flight (every batch's workers), each taking W, N items need
 * N × W ÷ L. With a tenant capacity, L is the capacity (`max_in_flight`), not what the batches ask.
 */
export function idealSeconds(scenario: Scenario): number {
  const inFlight = scenario.tenant
    ? Math.min(scenario.tenant.maxInFlight, scenario.maxWorkers * scenario.tenant.batches)
    : scenario.maxWorkers * scenario.batches;
  return (scenario.items * scenario.latencyMs) / inFlight / 1000;
}
