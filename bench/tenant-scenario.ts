import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { runBatch, type BatchRun } from './batch-run.js';
import { freePort, startNode, type ManagedProcess } from './children.js';
import { registerCleanup } from './cleanup.js';
import { httpRequest, parseJson } from './http.js';
import type { RedisProbe } from './redis-probe.js';
import {
  baseEnv,
  connectRedis,
  deadlineMs,
  emptyResult,
  failOrSkip,
  serviceEnv,
  SIMULATOR_NODE_ARGS,
  waitReady,
  type RunContext,
  type ScenarioResult,
} from './scenario-runner.js';
import type { Scenario, TenantSpec } from './scenarios.js';
import { round } from './stats.js';

const ACTION_ID = 'bench.tenant';
const WARMUP_ACTION_ID = 'bench.warmup';
const WARMUP_ITEMS = 500;
const STATS_EVERY_MS = 250;
/** The 429 share is also given from this long after the submit on: the adaptation's first steps excluded. */
const SETTLING_MS = 2000;

/** One run of a tenant scenario, with adaptation on or off. */
export interface TenantRun {
  adaptive: boolean;
  wall_s: number;
  items_per_s: number;
  /** Items that succeeded per second ÷ the tenant's capacity (max_in_flight ÷ latency). */
  goodput: number;
  calls: number;
  calls_per_item: number;
  /** Share of the CXone calls answered 429. */
  share_429: number;
  /** The same from SETTLING_MS after the submit to the end. */
  share_429_settled: number | null;
  successful: number;
  failed: number;
  /** Most calls of the action in flight at the simulator at once (refused ones included). */
  peak_in_flight: number;
  /** Mean of the samples, from 2 s after the submit on: calls in flight at the simulator. */
  mean_in_flight_settled: number | null;
  /** … and the first replica's `cxone_concurrency_limit` for the action. */
  mean_limit_settled: number | null;
}

export interface TenantFigures {
  capacity_per_s: number;
  runs: TenantRun[];
}

interface ActionStats {
  calls: number;
  in_flight: number;
  peak_in_flight: number;
  statuses: Record<string, number>;
}

interface Sample {
  atMs: number;
  calls: number;
  refused: number;
  inFlight: number;
  limit: number | null;
}

/**
 * A tenant with a capacity: the simulator action takes `max_in_flight` calls at once (50 ms
 * each), `batches` batches ask `max_workers` each, on one replica or several. Each run of
 * `spec.adaptive` has fresh processes (and a fresh Redis prefix), an unmeasured warm-up on an
 * action without capacity (so the measured action's limit starts unknown), then the batches
 * submitted together; the simulator's counters are sampled every 250 ms.
 */
export async function runTenantScenario(
  scenario: Scenario,
  ctx: RunContext,
): Promise<ScenarioResult> {
  const spec = scenario.tenant!;
  const result = emptyResult(scenario);
  result.warmup_items = WARMUP_ITEMS;
  const capacityPerS = (spec.maxInFlight * 1000) / scenario.latencyMs;
  const runs: TenantRun[] = [];
  for (const adaptive of spec.adaptive) {
    runs.push(await runOnce(scenario, spec, adaptive, capacityPerS, ctx, result.notes));
  }
  const [main] = runs;
  result.tenant = { capacity_per_s: capacityPerS, runs };
  Object.assign(result, {
    wall_s: main.wall_s,
    items_per_s: main.items_per_s,
    efficiency: main.goodput,
    summary: undefined,
    simulator: { calls: main.calls, peak_in_flight: main.peak_in_flight, cpu_us_per_item: 0 },
  } satisfies Partial<ScenarioResult>);
  if (scenario.replicas > 1) {
    result.notes.push(
      `QUEUE_CONCURRENCY=1 on each of the ${scenario.replicas} replicas, so that each runs one of the batches`,
    );
  }
  return result;
}

async function runOnce(
  scenario: Scenario,
  spec: TenantSpec,
  adaptive: boolean,
  capacityPerS: number,
  ctx: RunContext,
  notes: string[],
): Promise<TenantRun> {
  const processes: ManagedProcess[] = [];
  const redisPrefix = `bench-${randomBytes(6).toString('hex')}:`;
  let redis: RedisProbe | undefined;
  const stop = async (): Promise<void> => {
    await Promise.all(processes.map((p) => p.stop()));
    if (redis) {
      await redis.deletePrefix(redisPrefix).catch(() => undefined);
      redis.close();
      redis = undefined;
    }
  };
  const unregister = registerCleanup(stop);
  try {
    if (scenario.redis) redis = await connectRedis();
    const sim = startNode('simulator', ctx.simulatorScript, {
      core: ctx.cores?.simulator,
      nodeArgs: SIMULATOR_NODE_ARGS,
      env: {
        ...baseEnv(),
        SIM_HOST: '127.0.0.1',
        SIM_PORT: '0',
        SIM_SEED: '42',
        SIM_PROFILES: JSON.stringify({
          [WARMUP_ACTION_ID]: { latency_ms: scenario.latencyMs },
          [ACTION_ID]: { latency_ms: scenario.latencyMs, max_in_flight: spec.maxInFlight },
        }),
      },
    });
    processes.push(sim);
    const simUrl = (await sim.waitForLine(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 15_000))[1];

    const urls: string[] = [];
    for (let i = 0; i < scenario.replicas; i++) {
      const port = await freePort();
      const env = serviceEnv(scenario, simUrl, port, undefined, redisPrefix);
      env.ADAPTIVE_CONCURRENCY = String(adaptive);
      // Traces go nowhere here: the figures are about CXone, not the service's CPU.
      env.OTEL_SDK_DISABLED = 'true';
      if (spec.tenantMaxConcurrency !== undefined) {
        env.CXONE_TENANT_MAX_CONCURRENCY = String(spec.tenantMaxConcurrency);
      }
      if (scenario.replicas > 1) env.QUEUE_CONCURRENCY = '1';
      const service = startNode(`service-${i + 1}`, ctx.serviceScript, {
        core: ctx.cores?.service,
        env,
      });
      processes.push(service);
      const url = `http://127.0.0.1:${port}`;
      await failOrSkip(scenario, processes, 'the service did not get ready', () =>
        waitReady(service, url),
      );
      urls.push(url);
    }

    const poll = { intervalMs: ctx.pollIntervalMs, pageSize: ctx.pollPageSize };
    const perBatch = Math.round(scenario.items / spec.batches);
    await failOrSkip(scenario, processes, 'the warm-up batches failed', () =>
      Promise.all(
        urls.map((url, i) =>
          runBatch(
            url,
            {
              actionId: WARMUP_ACTION_ID,
              items: WARMUP_ITEMS,
              maxWorkers: scenario.maxWorkers,
              chunkSize: scenario.chunkSize,
              firstId: 10_000_000 + i * WARMUP_ITEMS,
            },
            { ...poll, deadlineMs: 120_000 },
          ),
        ),
      ),
    );

    const before = await actionStats(simUrl);
    const submittedAt = Date.now();
    const samples: Sample[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [stats, limit] = await Promise.all([
          actionStats(simUrl).catch(() => undefined),
          concurrencyLimit(urls[0]),
        ]);
        if (stats) {
          samples.push({
            atMs: Date.now() - submittedAt,
            calls: stats.calls - before.calls,
            refused: (stats.statuses['429'] ?? 0) - (before.statuses['429'] ?? 0),
            inFlight: stats.in_flight,
            limit,
          });
        }
        await sleep(STATS_EVERY_MS);
      }
    })();
    let batches: BatchRun[];
    try {
      batches = await failOrSkip(scenario, processes, 'the measured batches failed', () =>
        Promise.all(
          Array.from({ length: spec.batches }, (_, i) =>
            runBatch(
              urls[i % urls.length],
              {
                actionId: ACTION_ID,
                items: perBatch,
                maxWorkers: scenario.maxWorkers,
                chunkSize: scenario.chunkSize,
                firstId: i * perBatch,
              },
              { ...poll, deadlineMs: deadlineMs(scenario.items, scenario.items / capacityPerS) },
            ),
          ),
        ),
      );
    } finally {
      sampling = false;
      await sampler;
    }
    const after = await actionStats(simUrl);

    const wallMs = Math.max(...batches.map((b) => b.wallMs));
    const items = perBatch * spec.batches;
    const successful = batches.reduce((sum, b) => sum + b.summary.successful, 0);
    const failed = batches.reduce((sum, b) => sum + b.summary.failed, 0);
    const calls = after.calls - before.calls;
    const refused = (after.statuses['429'] ?? 0) - (before.statuses['429'] ?? 0);
    const settledFrom = [...samples].reverse().find((s) => s.atMs <= SETTLING_MS);
    const settledCalls = settledFrom ? calls - settledFrom.calls : 0;
    const settled = samples.filter((sample) => sample.atMs > SETTLING_MS);
    const mode = adaptive ? 'adaptive on' : 'adaptive off';
    if (successful < items) {
      notes.push(`${mode}: ${items - successful} of ${items} items did not succeed`);
    }
    if (wallMs <= SETTLING_MS + STATS_EVERY_MS) {
      notes.push(`${mode}: the run was too short for a 429 share after the first 2 s`);
    }
    return {
      adaptive,
      wall_s: round(wallMs / 1000, 3) ?? 0,
      items_per_s: round(items / (wallMs / 1000), 0) ?? 0,
      goodput: round(successful / (wallMs / 1000) / capacityPerS, 3) ?? 0,
      calls,
      calls_per_item: round(calls / items, 3) ?? 0,
      share_429: round(calls > 0 ? refused / calls : 0, 4) ?? 0,
      share_429_settled:
        settledFrom && settledCalls > 0 && wallMs > SETTLING_MS + STATS_EVERY_MS
          ? (round((refused - settledFrom.refused) / settledCalls, 4) ?? null)
          : null,
      successful,
      failed,
      peak_in_flight: after.peak_in_flight,
      mean_in_flight_settled: mean(settled.map((sample) => sample.inFlight)),
      mean_limit_settled: mean(settled.map((sample) => sample.limit)),
    };
  } finally {
    await stop();
    unregister();
  }
}

async function actionStats(simUrl: string): Promise<ActionStats> {
  const answer = await httpRequest(`${simUrl}/__sim/stats`);
  const stats = parseJson<{ actions: Record<string, ActionStats> }>(answer, 'GET /__sim/stats');
  return stats.actions[ACTION_ID] ?? { calls: 0, in_flight: 0, peak_in_flight: 0, statuses: {} };
}

const LIMIT_LINE = new RegExp(
  `^cxone_concurrency_limit\\{[^}]*action="${ACTION_ID.replace('.', '\\.')}"[^}]*\\}\\s+(\\S+)`,
  'm',
);

/** The service's `cxone_concurrency_limit` for the action; null when not reported. */
async function concurrencyLimit(serviceUrl: string): Promise<number | null> {
  try {
    const answer = await httpRequest(`${serviceUrl}/metrics`, { timeoutMs: 2000 });
    const match = LIMIT_LINE.exec(answer.text);
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

function mean(values: (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (present.length === 0) return null;
  return round(present.reduce((sum, v) => sum + v, 0) / present.length, 1) ?? null;
}
