import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { batchBody, HarnessError } from './batch-run.js';
import { freePort, startNode, type ManagedProcess } from './children.js';
import { registerCleanup } from './cleanup.js';
import { excerpt, httpRequest, parseJson, postJson } from './http.js';
import type { RedisProbe } from './redis-probe.js';
import {
  connectRedis,
  emptyResult,
  serviceEnv,
  simulatorEnv,
  SIMULATOR_NODE_ARGS,
  waitReady,
  type RunContext,
  type ScenarioResult,
} from './scenario-runner.js';
import type { Scenario } from './scenarios.js';
import { round } from './stats.js';

const ACTION_ID = 'bench.failover';
/** The replica running the batch is killed once this share of the items has been called. */
const KILL_AT_SHARE = 0.25;
const WATCH_INTERVAL_MS = 20;
const RESUME_DEADLINE_MS = 120_000;

interface Replica {
  process: ManagedProcess;
  url: string;
  simUrl: string;
}

/**
 * Redis mode, two replicas with QUEUE_LOCK_SECONDS at its default: the replica running a batch is
 * killed with SIGKILL mid-run; `failover_s` is the time from the kill to the batch's first call
 * made by the other replica. Each replica calls a simulator of its own, so that first call is
 * told apart from the killed replica's last ones.
 */
export async function runFailoverScenario(
  scenario: Scenario,
  ctx: RunContext,
): Promise<ScenarioResult> {
  const result = emptyResult(scenario);
  const processes: ManagedProcess[] = [];
  const redisPrefix = `bench-${randomBytes(6).toString('hex')}:`;
  let killed: ManagedProcess | undefined;
  let redis: RedisProbe | undefined;
  const stopProcesses = async (): Promise<void> => {
    await Promise.all(processes.map((p) => p.stop()));
  };
  const cleanRedis = async (): Promise<void> => {
    const probe = redis;
    redis = undefined;
    if (!probe) return;
    try {
      await probe.deletePrefix(redisPrefix);
    } finally {
      probe.close();
    }
  };
  const unregister = registerCleanup(async () => {
    await stopProcesses();
    await cleanRedis();
  });

  try {
    redis = await connectRedis();
    const replicas: Replica[] = [];
    for (let i = 0; i < 2; i++) {
      const sim = startNode(`simulator-${i + 1}`, ctx.simulatorScript, {
        core: ctx.cores?.simulator,
        nodeArgs: SIMULATOR_NODE_ARGS,
        env: simulatorEnv(scenario),
      });
      processes.push(sim);
      const simUrl = (await sim.waitForLine(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 15_000))[1];
      const port = await freePort();
      const service = startNode(`service-${i + 1}`, ctx.serviceScript, {
        core: ctx.cores?.service,
        env: serviceEnv(scenario, simUrl, port, undefined, redisPrefix),
      });
      processes.push(service);
      const url = `http://127.0.0.1:${port}`;
      await waitReady(service, url);
      replicas.push({ process: service, url, simUrl });
    }

    const submitted = await postJson(
      `${replicas[0].url}/batch/execute`,
      batchBody({
        actionId: ACTION_ID,
        items: scenario.items,
        maxWorkers: scenario.maxWorkers,
        chunkSize: scenario.chunkSize,
        firstId: 0,
      }),
      { timeoutMs: 60_000 },
    );
    if (submitted.status !== 202) {
      throw new HarnessError(
        `POST /batch/execute answered ${submitted.status}: ${excerpt(submitted.text)}`,
      );
    }
    const batchId = parseJson<{ batch_id: string }>(submitted, 'POST /batch/execute').batch_id;

    const killAt = Math.ceil(scenario.items * KILL_AT_SHARE);
    const owner = await waitFor(RESUME_DEADLINE_MS, 'the batch running on a replica', async () => {
      const calls = await Promise.all(replicas.map((r) => actionCalls(r.simUrl)));
      const running = calls.findIndex((count) => count >= killAt);
      if (running >= 0 && calls[1 - running] > 0) {
        throw new HarnessError('both replicas called the batch before any was killed');
      }
      return running >= 0 ? running : undefined;
    });
    const survivor = replicas[1 - owner];

    killed = replicas[owner].process;
    const killedAt = Date.now();
    killed.child.kill('SIGKILL');
    await killed.exited;
    const callsAtKill = await actionCalls(replicas[owner].simUrl);
    await waitFor(
      RESUME_DEADLINE_MS,
      'the first call of the batch on the other replica',
      async () => ((await actionCalls(survivor.simUrl)) > 0 ? true : undefined),
    );
    const failoverMs = Date.now() - killedAt;

    const summary = await waitFor(RESUME_DEADLINE_MS, 'the batch completing', async () => {
      const answer = await httpRequest(`${survivor.url}/batch/${batchId}/status?limit=1`);
      if (answer.status !== 200) return undefined;
      const status = parseJson<{ status: string; summary: ScenarioResult['summary'] }>(
        answer,
        'status poll',
      );
      return status.status === 'completed' ? status.summary : undefined;
    });
    const callsAfter = await actionCalls(survivor.simUrl);
    Object.assign(result, {
      failover_s: round(failoverMs / 1000, 2),
      calls_before_kill: callsAtKill,
      repeated_calls: callsAtKill + callsAfter - scenario.items,
      summary,
    } satisfies Partial<ScenarioResult>);
    if (summary?.successful !== scenario.items) {
      result.notes.push(`not all items succeeded: ${JSON.stringify(summary)}`);
    }
    return result;
  } catch (error) {
    // Unlike the other Redis scenarios, a failure here is not "Redis mode not working yet": the
    // scenario exists to show a fail-over that does not happen.
    const dead = processes.filter((p) => p.hasExited && p !== killed);
    const context = dead.map((p) => `\n${p.describeExit()}:\n${p.tail()}`).join('');
    if (error instanceof Error && context) error.message += context;
    throw error;
  } finally {
    await stopProcesses();
    await cleanRedis().catch((error: Error) =>
      result.notes.push(`Redis cleanup failed: ${error.message}`),
    );
    unregister();
  }
}

async function actionCalls(simUrl: string): Promise<number> {
  const answer = await httpRequest(`${simUrl}/__sim/stats`);
  if (answer.status !== 200) throw new HarnessError(`GET /__sim/stats answered ${answer.status}`);
  const stats = parseJson<{ actions: Record<string, { calls: number }> }>(answer, '/__sim/stats');
  return stats.actions[ACTION_ID]?.calls ?? 0;
}

/** Polls `check` until it returns a value; a HarnessError it throws ends the wait. */
async function waitFor<T>(
  timeoutMs: number,
  what: string,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new HarnessError(`${what}: not within ${timeoutMs} ms`);
    await sleep(WATCH_INTERVAL_MS);
  }
}
