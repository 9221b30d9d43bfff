/**
 * `npm run bench`: starts the simulator and the service as separate processes, drives them
 * through their public HTTP APIs on 127.0.0.1 only, and reports the figures of bench/README.md.
 *
 *   node dist/bench/main.js [--scenarios a,b,…,failover,tenant-1,tenant-2,tenant-cap-2] [--quick]
 *                           [--repeat N] [--chunk-size N] [--out FILE]
 *
 * Exits 0 whatever the figures (a missed target is a measurement); 1 only when the harness
 * itself failed (a process would not start, a batch did not complete in time).
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs as parseCliArgs } from 'node:util';
import { canPin, killAllNow, pinSelf, stopAll } from './children.js';
import { registerCleanup, runCleanups } from './cleanup.js';
import { snapshotBuild, type BuildSnapshot } from './snapshot.js';
import { machineInfo } from './proc-stats.js';
import { waitForQuiet } from './quiet.js';
import { combineRuns } from './repeat.js';
import { compare, evaluateTargets, render, writeReport, type Report } from './report.js';
import {
  emptyResult,
  runScenario,
  SIMULATOR_NODE_ARGS,
  SkipError,
  type RunContext,
  type ScenarioResult,
} from './scenario-runner.js';
import { DEFAULT_CHUNK_SIZE, SCENARIO_IDS, scenarios, type ScenarioId } from './scenarios.js';
import { runFailoverScenario } from './failover.js';
import { runTenantScenario } from './tenant-scenario.js';

const POLL_INTERVAL_MS = 75;
const POLL_PAGE_SIZE = 50;
const MAX_REPEAT = 9;
/** Before each scenario, wait until other processes use at most this much of a core … */
const QUIET_THRESHOLD_PCT = 20;
/** … but no longer than this. */
const QUIET_MAX_WAIT_MS = 120_000;

const USAGE = `usage: node dist/bench/main.js [--scenarios ${SCENARIO_IDS.join(',')}] [--quick]
                         [--repeat N] [--chunk-size N] [--out FILE]
  --scenarios   comma-separated subset to run (default: all, in that order)
  --quick       item counts ÷ 10, a smoke run (writes bench/results/latest-quick.json)
  --repeat      run each scenario N times (fresh processes each time), report the medians
  --chunk-size  chunk_size of every batch (default ${DEFAULT_CHUNK_SIZE}, the API's range 1..1000)
  --out         where the JSON report goes (default bench/results/latest.json)`;

interface Options {
  selected: ScenarioId[];
  quick: boolean;
  chunkSize: number;
  repeat: number;
  out?: string;
}

function parseArgs(argv: string[]): Options {
  let parsed;
  try {
    parsed = parseCliArgs({
      args: argv,
      options: {
        scenarios: { type: 'string' },
        quick: { type: 'boolean', default: false },
        'chunk-size': { type: 'string' },
        out: { type: 'string' },
        repeat: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    usage(2, (error as Error).message);
  }
  if (parsed.help) usage(0);

  let selected: ScenarioId[] = [...SCENARIO_IDS];
  if (parsed.scenarios !== undefined) {
    const ids = parsed.scenarios
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const unknown = ids.filter((id) => !SCENARIO_IDS.includes(id as ScenarioId));
    if (ids.length === 0 || unknown.length > 0) {
      usage(2, `unknown scenario: ${unknown.join(', ') || '(none given)'}`);
    }
    // Always in the canonical order, so b runs before b-otel-off whatever order was typed.
    selected = SCENARIO_IDS.filter((id) => ids.includes(id));
  }
  const chunkSize = Number(parsed['chunk-size'] ?? DEFAULT_CHUNK_SIZE);
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 1000) {
    usage(2, '--chunk-size must be an integer from 1 to 1000');
  }
  const repeat = Number(parsed.repeat ?? 1);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > MAX_REPEAT) {
    usage(2, `--repeat must be an integer from 1 to ${MAX_REPEAT}`);
  }
  return {
    selected,
    quick: parsed.quick,
    chunkSize,
    repeat,
    out: parsed.out === undefined ? undefined : resolve(parsed.out),
  };
}

function usage(code: number, problem?: string): never {
  if (problem) process.stderr.write(`${problem}\n`);
  (code === 0 ? process.stdout : process.stderr).write(`${USAGE}\n`);
  process.exit(code);
}

function fromHere(relative: string): string {
  return fileURLToPath(new URL(relative, import.meta.url));
}

/** Service on core 0, simulator on core 1, the bench itself beside the simulator (it only polls). */
function pinning(): { cores: RunContext['cores']; description: string } {
  const cores = availableParallelism();
  if (cores < 2) return { cores: null, description: 'none (a single core: nothing to separate)' };
  if (!canPin()) return { cores: null, description: 'none (taskset not found)' };
  const benchCore = cores >= 3 ? 2 : 1;
  const benchPinned = pinSelf(benchCore);
  return {
    cores: { service: 0, simulator: 1 },
    description:
      `taskset: service (and the bare loop) on core 0, simulator on core 1, bench ${benchPinned ? `on core ${benchCore}` : 'unpinned'}` +
      '; Redis, when used, is not pinned',
  };
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const build = await snapshotBuild(fromHere('../../'));
  const unregister = registerCleanup(async () => build.remove());
  try {
    return await runAll(options, build);
  } finally {
    build.remove();
    unregister();
  }
}

async function runAll(options: Options, build: BuildSnapshot): Promise<number> {
  const machine = machineInfo();
  const pin = pinning();
  const ctx: RunContext = {
    serviceScript: build.script('service'),
    simulatorScript: build.script('simulator'),
    bareLoopScript: build.script('bareLoop'),
    clockTicksPerSecond: machine.clock_ticks_per_second,
    cores: pin.cores,
    pollIntervalMs: POLL_INTERVAL_MS,
    pollPageSize: POLL_PAGE_SIZE,
  };

  const results: ScenarioResult[] = [];
  let harnessFailed = false;
  for (const scenario of scenarios(options.quick, options.chunkSize).filter((s) =>
    options.selected.includes(s.id),
  )) {
    process.stdout.write(
      `▶ ${scenario.id}: ${scenario.items} items, max_workers ${scenario.maxWorkers}, ${scenario.latencyMs} ms … `,
    );
    const quiet = await waitForQuiet(
      machine.clock_ticks_per_second,
      QUIET_THRESHOLD_PCT,
      QUIET_MAX_WAIT_MS,
      (busy) => process.stdout.write(`waiting for other processes to calm down (${busy.top}) … `),
    );
    const started = Date.now();
    let result: ScenarioResult;
    try {
      const runs: ScenarioResult[] = [];
      const run = scenario.killOwner
        ? runFailoverScenario
        : scenario.tenant
          ? runTenantScenario
          : runScenario;
      for (let i = 0; i < options.repeat; i++) runs.push(await run(scenario, ctx));
      result = combineRuns(runs);
    } catch (error) {
      result = emptyResult(scenario);
      result.reason = (error as Error).message;
      if (error instanceof SkipError) result.status = 'skipped';
      else {
        result.status = 'error';
        harnessFailed = true;
      }
    }
    if (!quiet.quiet) {
      result.notes.push(
        `started on a busy machine: other processes used ${quiet.otherCpuPct}% of a core (${quiet.top}) after waiting ${Math.round(quiet.waitedMs / 1000)} s`,
      );
    }
    results.push(result);
    const took = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    process.stdout.write(
      result.status === 'ok'
        ? `done in ${took}\n`
        : `${result.status} (${took}): ${result.reason}\n`,
    );
  }

  const comparisons = compare(results);
  const report: Report = {
    generated_at: new Date().toISOString(),
    command: ['node', 'dist/bench/main.js', ...process.argv.slice(2)].join(' '),
    quick: options.quick,
    repeat: options.repeat,
    service_built_at: build.builtAt,
    machine,
    pinning: pin.description,
    method: [
      'Every scenario starts a fresh simulator and fresh service process(es), so VmHWM is that scenario’s.',
      `The simulator runs with node ${SIMULATOR_NODE_ARGS.join(' ')} (as npm run sim): its scavenges stay under 3 ms instead of pausing its answers for 10–40 ms.`,
      `Each runs an unmeasured warm-up batch (10% of the items, at most 1000) first; then one measured batch.`,
      'wall: from sending POST /batch/execute to the batch’s finished_at; ideal = items × latency ÷ max_workers.',
      'CPU: utime+stime of the service process(es) from /proc/<pid>/stat over the measured batch (status polls included), ÷ items.',
      `Status polls: GET /batch/{id}/status?limit=${POLL_PAGE_SIZE} every ${POLL_INTERVAL_MS} ms, one at a time, over keep-alive.`,
      'Payloads are distinct and cache_ttl_seconds is 0, so every item is one real call to the simulator.',
      'failover: Redis, two replicas each calling a simulator of its own, QUEUE_LOCK_SECONDS at its default; the replica running the batch is killed (SIGKILL) once a quarter of the items were called; failover_s runs from the kill to the first call of that batch at the other replica’s simulator (polled every 20 ms).',
      'Observability on: traces exported to a local OTLP sink, METRICS_ENABLED=true; off: OTEL_SDK_DISABLED=true, METRICS_ENABLED=false.',
      'The service runs from a private copy of dist/; before each scenario the bench waits (at most 2 min) until other processes use at most 20% of a core, and foreign_cpu_pct is what they used during the measured batch.',
    ],
    scenarios: results,
    comparisons,
    targets: evaluateTargets(results, comparisons),
  };
  process.stdout.write(`\n${render(report)}\n`);
  const out =
    options.out ??
    fromHere(`../../bench/results/${options.quick ? 'latest-quick' : 'latest'}.json`);
  writeReport(out, report);
  process.stdout.write(`\nreport written to ${out}\n`);
  return harnessFailed ? 1 : 0;
}

let stopping = false;
async function interrupt(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`\n${signal}: stopping every process the benchmark started\n`);
  await runCleanups(8000);
  killAllNow();
  process.exit(130);
}
process.once('SIGINT', (signal) => void interrupt(signal));
process.once('SIGTERM', (signal) => void interrupt(signal));
process.once('exit', killAllNow);

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  process.stderr.write(`benchmark harness failed: ${(error as Error).stack ?? String(error)}\n`);
} finally {
  await runCleanups(8000);
  await stopAll();
}
process.exit(exitCode);
