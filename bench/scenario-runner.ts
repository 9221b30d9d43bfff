import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HarnessError,
  runBatch,
  runBatches,
  type BatchRun,
  type BatchSpec,
  type BatchSummary,
} from './batch-run.js';
import { freePort, startNode, type ManagedProcess } from './children.js';
import { registerCleanup } from './cleanup.js';
import { httpRequest, parseJson } from './http.js';
import { OtlpSink } from './otlp-sink.js';
import {
  cpuTicks,
  cpusAllowed,
  allProcessTicks,
  foreignCpu,
  peakRssBytes,
  pidsNamed,
  rssBytes,
} from './proc-stats.js';
import { RedisProbe } from './redis-probe.js';
import type { RunFigures } from './repeat.js';
import type { TenantFigures } from './tenant-scenario.js';
import { idealSeconds, type Scenario, type Store } from './scenarios.js';
import { percentile, round } from './stats.js';

const ACTION_ID = 'bench.echo';
const REDIS_HOST = '127.0.0.1';
const REDIS_PORT = 6379;
const READY_TIMEOUT_MS = 30_000;
const WARMUP_MAX_ITEMS = 1000;
const IDLE_POLLS = 200;
const FOREIGN_CPU_WARN_PCT = 10;
/** Payload ids of the bare loop, far from the service's, although no cache is in play. */
const BARE_FIRST_ID = 10_000_000;

/**
 * The simulator's objects live for one call, yet with V8's default young generation each
 * scavenge still found megabytes alive and paused it long enough to release a clump of late
 * answers to whichever client was measured. A 2 MB young generation keeps the pauses short, as in
 * `npm run sim`.
 */
export const SIMULATOR_NODE_ARGS: readonly string[] = ['--max-semi-space-size=2'];

export interface RunContext {
  serviceScript: string;
  simulatorScript: string;
  bareLoopScript: string;
  clockTicksPerSecond: number;
  /** Cores to pin to, or null when pinning is off. */
  cores: { service: number; simulator: number } | null;
  pollIntervalMs: number;
  pollPageSize: number;
}

/** A scenario that cannot be measured here (Redis missing, Redis mode not working yet). */
export class SkipError extends Error {
  override readonly name = 'SkipError';
}

export interface BareFigures {
  wall_s: number;
  items_per_s: number;
  cpu_us_per_item: number;
  peak_rss_mb: number;
  failures: number;
}

export interface ScenarioResult {
  id: string;
  description: string;
  status: 'ok' | 'skipped' | 'error';
  reason?: string;
  store: Store;
  /** Batches submitted at once (their items add up to `items`). */
  batches: number;
  replicas: number;
  observability: 'on' | 'off';
  items: number;
  max_workers: number;
  chunk_size: number;
  latency_ms: number;
  ideal_s: number;
  warmup_items: number;
  wall_s?: number | null;
  observed_s?: number | null;
  submit_ms?: number | null;
  /** Submit to started_at (validation, storing, queueing). */
  start_delay_ms?: number | null;
  efficiency?: number | null;
  items_per_s?: number | null;
  cpu_us_per_item?: number | null;
  cpu_us_per_item_by_replica?: number[];
  peak_rss_mb?: number | null;
  /** VmRSS of the first replica once ready, before any batch: the floor under peak_rss_mb. */
  ready_rss_mb?: number | null;
  peak_rss_mb_by_replica?: number[];
  polls?: number;
  poll_errors?: number;
  poll_p50_ms?: number | null;
  poll_p99_ms?: number | null;
  poll_max_ms?: number | null;
  /**
   * The same status poll repeated on the finished batch with the service otherwise idle: what a
   * poll costs by itself, against poll_p99_ms which adds waiting behind the batch's own work.
   */
  idle_poll_p50_ms?: number | null;
  idle_poll_p99_ms?: number | null;
  idle_poll_cpu_us?: number | null;
  summary?: BatchSummary;
  simulator?: { calls: number; peak_in_flight: number; cpu_us_per_item: number };
  cpus_allowed?: Record<string, string>;
  bare?: BareFigures;
  /** The same loop through the service's axios stack (instance settings, node:http adapter, retries). */
  client?: BareFigures;
  otlp?: { requests: number; bytes: number };
  /** GET /metrics after the run: shows whether METRICS_ENABLED took effect. */
  metrics_endpoint?: { status: number; bytes: number };
  /**
   * CPU used by processes other than the bench's own (and Redis) during the measured batch, in %
   * of one core: above FOREIGN_CPU_WARN_PCT the figures may be disturbed.
   */
  foreign_cpu_pct?: number | null;
  /** redis-server's CPU per item during the measured batch (Redis scenarios). */
  redis_cpu_us_per_item?: number | null;
  /** Keys the service had written under the run's prefix (all deleted afterwards). */
  redis_keys?: number;
  /** Scenario `failover`: from the SIGKILL of the replica running the batch to its first call on the other. */
  failover_s?: number | null;
  /** Scenario `failover`: calls the simulators received before the kill, and calls made twice. */
  calls_before_kill?: number;
  repeated_calls?: number;
  /** With --repeat: each run's own figures (the ones above are their medians). */
  runs?: RunFigures[];
  /** Tenant scenarios: each run's figures, adaptation on (the scenario's) and off beside it. */
  tenant?: TenantFigures;
  notes: string[];
}

interface SimStats {
  calls: number;
  peak_in_flight: number;
}

export function emptyResult(scenario: Scenario): ScenarioResult {
  return {
    id: scenario.id,
    description: scenario.description,
    status: 'ok',
    store: scenario.store,
    batches: scenario.batches,
    replicas: scenario.replicas,
    observability: scenario.observability,
    items: scenario.items,
    max_workers: scenario.maxWorkers,
    chunk_size: scenario.chunkSize,
    latency_ms: scenario.latencyMs,
    ideal_s: round(idealSeconds(scenario), 3) ?? 0,
    warmup_items: warmupItems(scenario),
    notes: [],
  };
}

function warmupItems(scenario: Scenario): number {
  return Math.min(WARMUP_MAX_ITEMS, Math.ceil(scenario.items / 10));
}

/** The harness's patience: 10 × the ideal time + 60 s, plus 2 ms per item for CPU-bound runs. */
export function deadlineMs(items: number, idealS: number): number {
  return 10 * idealS * 1000 + 60_000 + 2 * items;
}

/**
 * Runs one scenario with processes of its own (a fresh simulator and fresh service processes, so
 * VmHWM is this scenario's), then stops every one of them, whatever happened.
 */
export async function runScenario(scenario: Scenario, ctx: RunContext): Promise<ScenarioResult> {
  const result = emptyResult(scenario);
  const processes: ManagedProcess[] = [];
  let sink: OtlpSink | undefined;
  let redis: RedisProbe | undefined;
  const redisPrefix = `bench-${randomBytes(6).toString('hex')}:`;
  // A fresh database per scenario (its processes stopped first), removed with it.
  const dataDir =
    scenario.store === 'sqlite' ? mkdtempSync(join(tmpdir(), 'cxo-bench-')) : undefined;
  const removeDataDir = (): void => {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  const stopProcesses = async (): Promise<void> => {
    await Promise.all(processes.map((p) => p.stop()));
  };
  const cleanRedis = async (): Promise<void> => {
    if (!redis) return;
    try {
      await redis.deletePrefix(redisPrefix);
      const left = (await redis.keysWithPrefix(redisPrefix)).length;
      if (left > 0)
        result.notes.push(`${left} Redis keys under ${redisPrefix} could not be deleted`);
    } finally {
      redis.close();
      redis = undefined;
    }
  };
  const unregister = registerCleanup(async () => {
    await stopProcesses();
    removeDataDir();
    await cleanRedis();
    await sink?.close();
  });

  try {
    if (scenario.redis) redis = await connectRedis();

    const sim = startNode('simulator', ctx.simulatorScript, {
      core: ctx.cores?.simulator,
      nodeArgs: SIMULATOR_NODE_ARGS,
      env: simulatorEnv(scenario),
    });
    processes.push(sim);
    const simUrl = (await sim.waitForLine(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 15_000))[1];

    if (scenario.observability === 'on') sink = await OtlpSink.start();

    const replicas: { process: ManagedProcess; url: string }[] = [];
    for (let i = 0; i < scenario.replicas; i++) {
      const port = await freePort();
      const service = startNode(`service-${i + 1}`, ctx.serviceScript, {
        core: ctx.cores?.service,
        env: serviceEnv(scenario, simUrl, port, sink?.url, redisPrefix, dataDir),
      });
      processes.push(service);
      const url = `http://127.0.0.1:${port}`;
      await failOrSkip(scenario, processes, 'the service did not get ready', () =>
        waitReady(service, url),
      );
      replicas.push({ process: service, url });
    }
    const submitTo = replicas[0].url;
    result.ready_rss_mb = round(rssBytes(replicas[0].process.pid) / 2 ** 20, 1);
    result.cpus_allowed = Object.fromEntries(processes.map((p) => [p.name, cpusAllowed(p.pid)]));
    result.cpus_allowed.bench = cpusAllowed(process.pid);

    const poll = { intervalMs: ctx.pollIntervalMs, pageSize: ctx.pollPageSize };
    await failOrSkip(scenario, processes, 'the warm-up batch failed', () =>
      runBatch(
        submitTo,
        {
          actionId: ACTION_ID,
          items: result.warmup_items,
          maxWorkers: scenario.maxWorkers,
          chunkSize: scenario.chunkSize,
          firstId: scenario.items,
        },
        { ...poll, deadlineMs: deadlineMs(result.warmup_items, result.ideal_s) },
      ),
    );

    // Measured window: from just before the submit to the poll that sees `completed`.
    const simBefore = await simStats(simUrl);
    const ticksBefore = replicas.map((r) => cpuTicks(r.process.pid));
    const simTicksBefore = cpuTicks(sim.pid);
    const redisPids = scenario.redis ? pidsNamed('redis-server') : [];
    const redisTicksBefore = sumTicks(redisPids);
    const everyProcessBefore = allProcessTicks();
    const run: BatchRun = await failOrSkip(scenario, processes, 'the measured batch failed', () =>
      runBatches(submitTo, measuredBatches(scenario), {
        ...poll,
        deadlineMs: deadlineMs(scenario.items, result.ideal_s),
      }),
    );
    const ticksAfter = replicas.map((r) => cpuTicks(r.process.pid));
    const simTicksAfter = cpuTicks(sim.pid);
    const redisTicks = sumTicks(redisPids) - redisTicksBefore;
    const everyProcessAfter = allProcessTicks();
    const rss = replicas.map((r) => peakRssBytes(r.process.pid));
    const simAfter = await simStats(simUrl);

    const usPerTick = 1e6 / ctx.clockTicksPerSecond;
    const cpuByReplica = ticksAfter.map(
      (after, i) => ((after - ticksBefore[i]) * usPerTick) / scenario.items,
    );
    const cpuTotal = cpuByReplica.reduce((sum, value) => sum + value, 0);
    const wallS = run.wallMs / 1000;
    Object.assign(result, {
      wall_s: round(wallS, 3),
      observed_s: round(run.observedMs / 1000, 3),
      submit_ms: round(run.submitMs, 1),
      start_delay_ms: round(run.startDelayMs, 0),
      efficiency: result.ideal_s > 0 ? round(result.ideal_s / wallS, 3) : null,
      items_per_s: round(scenario.items / wallS, 0),
      cpu_us_per_item: round(cpuTotal, 1),
      cpu_us_per_item_by_replica: cpuByReplica.map((v) => round(v, 1) ?? 0),
      peak_rss_mb: round(Math.max(...rss) / 2 ** 20, 1),
      peak_rss_mb_by_replica: rss.map((v) => round(v / 2 ** 20, 1) ?? 0),
      polls: run.pollLatenciesMs.length,
      poll_errors: run.pollErrors,
      poll_p50_ms: round(percentile(run.pollLatenciesMs, 50), 2),
      poll_p99_ms: round(percentile(run.pollLatenciesMs, 99), 2),
      poll_max_ms: round(percentile(run.pollLatenciesMs, 100), 2),
      summary: run.summary,
      simulator: {
        calls: simAfter.calls - simBefore.calls,
        peak_in_flight: simAfter.peak_in_flight,
        cpu_us_per_item:
          round(((simTicksAfter - simTicksBefore) * usPerTick) / scenario.items, 1) ?? 0,
      },
    } satisfies Partial<ScenarioResult>);
    // Whatever else ran on the machine meanwhile (other people's builds and tests on a shared box).
    const own = new Set([
      process.pid,
      sim.pid,
      ...redisPids,
      ...replicas.map((r) => r.process.pid),
    ]);
    const windowTicks = (run.observedMs / 1000) * ctx.clockTicksPerSecond;
    const foreign = foreignCpu(everyProcessBefore, everyProcessAfter, own, windowTicks);
    result.foreign_cpu_pct = foreign.pct;
    if (foreign.pct > FOREIGN_CPU_WARN_PCT) {
      result.notes.push(
        `other processes used ${foreign.pct}% of a core during the measured batch (${foreign.top}): figures may be disturbed`,
      );
    }
    if (scenario.redis) {
      result.redis_cpu_us_per_item = round((redisTicks * usPerTick) / scenario.items, 1);
    }
    checkOutcome(scenario, result, run);
    const idle = await idlePolls(submitTo, run.batchId, replicas[0].process.pid, ctx);
    result.idle_poll_p50_ms = round(percentile(idle.latenciesMs, 50), 2);
    result.idle_poll_p99_ms = round(percentile(idle.latenciesMs, 99), 2);
    result.idle_poll_cpu_us = round(idle.cpuUsPerPoll, 0);
    result.metrics_endpoint = await metricsEndpoint(submitTo);
    if (sink) result.otlp = { requests: sink.requests, bytes: sink.bytes };

    if (scenario.redis && redis) {
      result.redis_keys = (await redis.keysWithPrefix(redisPrefix)).length;
      if (result.redis_keys === 0) {
        throw new SkipError(
          `the service wrote no key under REDIS_KEY_PREFIX "${redisPrefix}": Redis mode is not active yet (its figures would be in-memory ones)`,
        );
      }
      if (scenario.replicas > 1) noteIdleReplicas(result, cpuByReplica);
    }

    // The service stops before the reference runs, so the two never share the core.
    await Promise.all(replicas.map((r) => r.process.stop()));
    if (scenario.bareReference) {
      result.bare = await runBareLoop(scenario, ctx, simUrl, processes, 'http');
      result.client = await runBareLoop(scenario, ctx, simUrl, processes, 'axios');
    }
    return result;
  } catch (error) {
    throw explainFailure(scenario, processes, error);
  } finally {
    await stopProcesses();
    removeDataDir();
    await cleanRedis().catch((error: Error) =>
      result.notes.push(`Redis cleanup failed: ${error.message}`),
    );
    await sink?.close();
    unregister();
  }
}

export function baseEnv(): Record<string, string> {
  // Exactly the variables named here: a developer's own REDIS_URL or API_KEYS must not leak in.
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    NODE_ENV: 'production',
  };
}

export function simulatorEnv(scenario: Scenario): Record<string, string> {
  return {
    ...baseEnv(),
    SIM_HOST: '127.0.0.1',
    SIM_PORT: '0',
    SIM_SEED: '42',
    SIM_PROFILES: JSON.stringify({ '*': { latency_ms: scenario.latencyMs, jitter_ms: 0 } }),
  };
}

/** The measured batches: the scenario's items split evenly, payload ids never repeated. */
function measuredBatches(scenario: Scenario): BatchSpec[] {
  const perBatch = Math.ceil(scenario.items / scenario.batches);
  return Array.from({ length: scenario.batches }, (_, i) => ({
    actionId: ACTION_ID,
    items: Math.min(perBatch, scenario.items - i * perBatch),
    maxWorkers: scenario.maxWorkers,
    chunkSize: scenario.chunkSize,
    firstId: i * perBatch,
  }));
}

export function serviceEnv(
  scenario: Scenario,
  simUrl: string,
  port: number,
  otlpUrl: string | undefined,
  redisPrefix: string,
  dataDir?: string,
): Record<string, string> {
  const env: Record<string, string> = {
    ...baseEnv(),
    // Named, never defaulted: without REDIS_URL the service's default store is sqlite.
    STORE: scenario.store,
    ...(dataDir ? { DATA_DIR: dataDir } : {}),
    PORT: String(port),
    CXONE_SIMULATOR: 'true',
    CXONE_API_URL: simUrl,
    AUTH_DISABLED: 'true',
    // The harness polls status as fast as it measures it: the per-caller limit is not under test.
    CALLER_RATE_LIMIT: '1000000',
    LOG_LEVEL: 'warn',
    CXONE_MAX_CONCURRENCY: String(Math.max(100, scenario.maxWorkers)),
    MAX_WORKERS_PER_BATCH: String(Math.max(256, scenario.maxWorkers)),
    SHUTDOWN_GRACE_SECONDS: '2',
  };
  if (process.env.BENCH_SERVICE_NODE_OPTIONS) {
    env.NODE_OPTIONS = process.env.BENCH_SERVICE_NODE_OPTIONS;
  }
  if (scenario.observability === 'on') {
    if (otlpUrl) env.OTEL_EXPORTER_OTLP_ENDPOINT = otlpUrl;
    env.METRICS_ENABLED = 'true';
  } else {
    env.OTEL_SDK_DISABLED = 'true';
    env.METRICS_ENABLED = 'false';
  }
  if (scenario.redis) {
    env.REDIS_URL = `redis://${REDIS_HOST}:${REDIS_PORT}`;
    env.REDIS_KEY_PREFIX = redisPrefix;
  }
  return env;
}

export async function connectRedis(): Promise<RedisProbe> {
  let probe: RedisProbe;
  try {
    probe = await RedisProbe.connect(REDIS_HOST, REDIS_PORT);
  } catch (error) {
    throw new SkipError(
      `Redis does not answer at ${REDIS_HOST}:${REDIS_PORT} (${(error as Error).message})`,
    );
  }
  try {
    const pong = await probe.command('PING');
    if (pong !== 'PONG') throw new Error(`PING answered ${JSON.stringify(pong)}`);
  } catch (error) {
    probe.close();
    throw new SkipError(
      `Redis at ${REDIS_HOST}:${REDIS_PORT} is not usable (${(error as Error).message})`,
    );
  }
  return probe;
}

/**
 * A failure names any process that died meanwhile, with its last lines. In Redis mode a failure
 * says the mode is not working yet: the scenario is skipped, not failed.
 */
export function explainFailure(
  scenario: Scenario,
  processes: readonly ManagedProcess[],
  error: unknown,
): Error {
  if (error instanceof SkipError || (error as { explained?: boolean }).explained)
    return error as Error;
  const dead = processes.filter((p) => p.hasExited);
  const context = dead.map((p) => `\n${p.describeExit()}:\n${p.tail()}`).join('');
  const message = `${(error as Error).message}${context}`;
  const explained = scenario.redis
    ? new SkipError(`Redis mode: ${message}`)
    : new HarnessError(message);
  return Object.assign(explained, { explained: true });
}

export async function failOrSkip<T>(
  scenario: Scenario,
  processes: readonly ManagedProcess[],
  what: string,
  step: () => Promise<T>,
): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof Error && !(error instanceof SkipError))
      error.message = `${what}: ${error.message}`;
    throw explainFailure(scenario, processes, error);
  }
}

export async function waitReady(service: ManagedProcess, url: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (service.hasExited) {
      throw new HarnessError(`${service.describeExit()} before getting ready:\n${service.tail()}`);
    }
    try {
      const answer = await httpRequest(`${url}/health/ready`, { timeoutMs: 2000 });
      if (answer.status === 200) {
        // Another process on that port would answer too: make sure ours is the one alive.
        await new Promise((resolve) => setTimeout(resolve, 200));
        if (service.hasExited) break;
        return;
      }
      last = `status ${answer.status}: ${answer.text.slice(0, 200)}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (service.hasExited) {
    throw new HarnessError(`${service.describeExit()} before getting ready:\n${service.tail()}`);
  }
  throw new HarnessError(
    `${service.name} not ready within ${READY_TIMEOUT_MS} ms (${last}):\n${service.tail()}`,
  );
}

function sumTicks(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += cpuTicks(pid);
    } catch {
      // ended meanwhile
    }
  }
  return total;
}

async function simStats(simUrl: string): Promise<SimStats> {
  const answer = await httpRequest(`${simUrl}/__sim/stats`);
  if (answer.status !== 200) throw new HarnessError(`GET /__sim/stats answered ${answer.status}`);
  return parseJson<SimStats>(answer, 'GET /__sim/stats');
}

/** Not targets, but a figure is only worth printing if the batch really did the work. */
function checkOutcome(scenario: Scenario, result: ScenarioResult, run: BatchRun): void {
  const { summary } = run;
  if (summary.total !== scenario.items) {
    result.notes.push(`summary.total is ${summary.total}, expected ${scenario.items}`);
  }
  if (summary.successful !== scenario.items) {
    const { failed, degraded, cancelled } = summary;
    result.notes.push(
      `not all items succeeded: failed ${failed}, degraded ${degraded}, cancelled ${cancelled}`,
    );
  }
  const calls = result.simulator?.calls ?? 0;
  if (calls !== scenario.items)
    result.notes.push(`the simulator received ${calls} execute calls for ${scenario.items} items`);
  const peak = result.simulator?.peak_in_flight ?? 0;
  if (peak > scenario.maxWorkers * scenario.batches)
    result.notes.push(`max_workers exceeded: ${peak} calls in flight at once`);
  if (run.pollErrors > 0) result.notes.push(`${run.pollErrors} status polls failed`);
}

async function metricsEndpoint(baseUrl: string): Promise<{ status: number; bytes: number }> {
  const answer = await httpRequest(`${baseUrl}/metrics`, { timeoutMs: 10_000 });
  return { status: answer.status, bytes: Buffer.byteLength(answer.text) };
}

async function idlePolls(
  baseUrl: string,
  batchId: string,
  pid: number,
  ctx: RunContext,
): Promise<{ latenciesMs: number[]; cpuUsPerPoll: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = `${baseUrl}/batch/${batchId}/status?limit=${ctx.pollPageSize}`;
  const latenciesMs: number[] = [];
  try {
    const before = cpuTicks(pid);
    for (let i = 0; i < IDLE_POLLS; i++) {
      const answer = await httpRequest(url, { agent, timeoutMs: 10_000 });
      if (answer.status !== 200)
        throw new HarnessError(`idle status poll answered ${answer.status}`);
      latenciesMs.push(answer.elapsedMs);
    }
    const cpuUs = ((cpuTicks(pid) - before) * 1e6) / ctx.clockTicksPerSecond;
    return { latenciesMs, cpuUsPerPoll: cpuUs / IDLE_POLLS };
  } finally {
    agent.destroy();
  }
}

/** One batch may run on one replica; say so, so a two-replica figure is read for what it is. */
function noteIdleReplicas(result: ScenarioResult, cpuByReplica: number[]): void {
  const total = cpuByReplica.reduce((sum, value) => sum + value, 0);
  cpuByReplica.forEach((value, i) => {
    const share = total > 0 ? value / total : 0;
    if (share < 0.1) {
      result.notes.push(
        `replica ${i + 1} used ${Math.round(share * 100)}% of the replicas' CPU: the batch ran mostly on the other`,
      );
    }
  });
}

async function runBareLoop(
  scenario: Scenario,
  ctx: RunContext,
  simUrl: string,
  processes: ManagedProcess[],
  client: 'http' | 'axios',
): Promise<BareFigures> {
  const bare = startNode(`bare-loop (${client})`, ctx.bareLoopScript, {
    core: ctx.cores?.service,
    stdin: true,
    env: {
      ...baseEnv(),
      BARE_SIM_URL: simUrl,
      BARE_CLIENT: client,
      BARE_ACTION_ID: ACTION_ID,
      BARE_CONCURRENCY: String(scenario.maxWorkers),
      BARE_ITEMS: String(scenario.items),
      BARE_WARMUP: String(warmupItems(scenario)),
      BARE_ID_OFFSET: String(BARE_FIRST_ID),
      BARE_TIMEOUT_MS: String(deadlineMs(scenario.items, idealSeconds(scenario)) + 60_000),
    },
  });
  processes.push(bare);
  await bare.waitForLine(/^ready$/, 60_000);
  const done = bare.waitForLine(/^done (.*)$/, deadlineMs(scenario.items, idealSeconds(scenario)));
  const ticksBefore = cpuTicks(bare.pid);
  bare.child.stdin?.write('go\n');
  const report = JSON.parse((await done)[1]) as {
    items: number;
    failures: number;
    wall_ms: number;
  };
  const ticksAfter = cpuTicks(bare.pid);
  const rss = peakRssBytes(bare.pid);
  bare.child.stdin?.end();
  await bare.stop();
  const wallS = report.wall_ms / 1000;
  return {
    wall_s: round(wallS, 3) ?? 0,
    items_per_s: round(scenario.items / wallS, 0) ?? 0,
    cpu_us_per_item:
      round(((ticksAfter - ticksBefore) * 1e6) / ctx.clockTicksPerSecond / scenario.items, 1) ?? 0,
    peak_rss_mb: round(rss / 2 ** 20, 1) ?? 0,
    failures: report.failures,
  };
}
