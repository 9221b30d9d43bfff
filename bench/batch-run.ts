import { Agent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { excerpt, httpRequest, parseJson, postJson } from './http.js';

export interface BatchSpec {
  actionId: string;
  items: number;
  maxWorkers: number;
  chunkSize: number;
  /** Payload ids start here, so a warm-up batch never shares a payload with the measured one. */
  firstId: number;
}

export interface BatchSummary {
  total: number;
  successful: number;
  failed: number;
  degraded: number;
  cancelled: number;
  pending: number;
}

interface StatusBody {
  status: string;
  started_at: string | null;
  finished_at: string | null;
  summary: BatchSummary;
}

export interface BatchRun {
  batchId: string;
  /** Submit (request sent) to the batch's `finished_at`. */
  wallMs: number;
  /** Submit to the poll that first saw `completed` (an upper bound of wallMs). */
  observedMs: number;
  submitMs: number;
  /** Submit to the batch's `started_at`: validation, storing and queueing before the first call. */
  startDelayMs: number | null;
  pollLatenciesMs: number[];
  pollErrors: number;
  summary: BatchSummary;
}

export interface PollOptions {
  intervalMs: number;
  /** `limit` of every status poll (a page of items is part of what a poll costs). */
  pageSize: number;
  /** The harness gives up (and fails) past this. */
  deadlineMs: number;
}

const MAX_CONSECUTIVE_POLL_ERRORS = 20;
const MAX_SUBMIT_ATTEMPTS = 4;

export class HarnessError extends Error {
  override readonly name = 'HarnessError';
}

export function batchBody(spec: BatchSpec): string {
  const payloads = Array.from({ length: spec.items }, (_, i) => {
    const id = spec.firstId + i;
    return { id, n: id };
  });
  return JSON.stringify({
    action_id: spec.actionId,
    payloads,
    max_workers: spec.maxWorkers,
    chunk_size: spec.chunkSize,
    timeout_ms: 15_000,
    cache_ttl_seconds: 0,
  });
}

/** Submits one batch and polls its status until it completes; every poll's latency is kept. */
export function runBatch(baseUrl: string, spec: BatchSpec, poll: PollOptions): Promise<BatchRun> {
  return runBatches(baseUrl, [spec], poll);
}

interface Tracked {
  batchId: string;
  statusUrl: string;
  done?: StatusBody;
}

/**
 * Submits the batches at once (all their bodies sent together), then polls the unfinished ones
 * in turn, one poll at a time, until every one has completed. The run's figures span them all:
 * wall time to the last `finished_at`, the submit and start delay of the slowest, the summaries
 * added up; `batchId` is the first batch's.
 */
export async function runBatches(
  baseUrl: string,
  specs: BatchSpec[],
  poll: PollOptions,
): Promise<BatchRun> {
  const bodies = specs.map(batchBody);
  const pollAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const submittedAt = Date.now();
    const accepted = await Promise.all(bodies.map((body) => submit(baseUrl, body)));
    const batches: Tracked[] = accepted.map(({ batchId }) => ({
      batchId,
      statusUrl: `${baseUrl}/batch/${batchId}/status?limit=${poll.pageSize}`,
    }));
    const deadline = submittedAt + poll.deadlineMs;
    const pollLatenciesMs: number[] = [];
    let pollErrors = 0;
    let consecutiveErrors = 0;
    let lastProblem = '';
    for (;;) {
      const waiting = batches.filter((batch) => batch.done === undefined);
      if (waiting.length === 0) break;
      if (Date.now() > deadline) {
        const items = specs.reduce((sum, spec) => sum + spec.items, 0);
        throw new HarnessError(
          `${waiting.length} of ${batches.length} batch(es) (${items} items) did not complete within ${Math.round(poll.deadlineMs / 1000)} s` +
            (lastProblem ? ` (last poll: ${lastProblem})` : ''),
        );
      }
      const roundStarted = Date.now();
      for (const batch of waiting) {
        try {
          const answer = await httpRequest(batch.statusUrl, {
            agent: pollAgent,
            timeoutMs: 10_000,
          });
          if (answer.status !== 200) {
            throw new Error(`status poll answered ${answer.status}: ${excerpt(answer.text)}`);
          }
          pollLatenciesMs.push(answer.elapsedMs);
          consecutiveErrors = 0;
          const status = parseJson<StatusBody>(answer, 'status poll');
          lastProblem = `status ${status.status}, ${status.summary.pending} pending`;
          if (status.status === 'cancelled') {
            throw new HarnessError(`batch ${batch.batchId} was cancelled`);
          }
          if (status.status === 'completed') batch.done = status;
        } catch (error) {
          if (error instanceof HarnessError) throw error;
          pollErrors++;
          lastProblem = (error as Error).message;
          if (++consecutiveErrors >= MAX_CONSECUTIVE_POLL_ERRORS) {
            throw new HarnessError(
              `${consecutiveErrors} status polls in a row failed: ${lastProblem}`,
            );
          }
        }
      }
      await sleep(Math.max(0, poll.intervalMs - (Date.now() - roundStarted)));
    }
    const observedMs = Date.now() - submittedAt;
    const since = (at: string | null): number => (at === null ? NaN : Date.parse(at) - submittedAt);
    const finishedMs = Math.max(...batches.map((batch) => since(batch.done!.finished_at)));
    const startedMs = Math.max(...batches.map((batch) => since(batch.done!.started_at)));
    const summary = batches
      .map((batch) => batch.done!.summary)
      .reduce((sum, one) => ({
        total: sum.total + one.total,
        successful: sum.successful + one.successful,
        failed: sum.failed + one.failed,
        degraded: sum.degraded + one.degraded,
        cancelled: sum.cancelled + one.cancelled,
        pending: sum.pending + one.pending,
      }));
    return {
      batchId: batches[0].batchId,
      wallMs: Number.isFinite(finishedMs) ? Math.min(observedMs, finishedMs) : observedMs,
      observedMs,
      startDelayMs: Number.isFinite(startedMs) ? startedMs : null,
      submitMs: Math.max(...accepted.map((one) => one.submitMs)),
      pollLatenciesMs,
      pollErrors,
      summary,
    };
  } finally {
    pollAgent.destroy();
  }
}

async function submit(
  baseUrl: string,
  body: string,
): Promise<{ batchId: string; submitMs: number }> {
  for (let attempt = 1; ; attempt++) {
    const answer = await postJson(`${baseUrl}/batch/execute`, body, { timeoutMs: 60_000 });
    if (answer.status === 202) {
      const accepted = parseJson<{ batch_id?: string }>(answer, 'POST /batch/execute');
      if (typeof accepted.batch_id !== 'string') throw new HarnessError('202 without batch_id');
      return { batchId: accepted.batch_id, submitMs: answer.elapsedMs };
    }
    if (answer.status === 429 && attempt < MAX_SUBMIT_ATTEMPTS) {
      const retryAfter = Math.min(10, Number(answer.headers['retry-after'] ?? '1') || 1);
      await sleep(retryAfter * 1000);
      continue;
    }
    throw new HarnessError(
      `POST /batch/execute answered ${answer.status}: ${excerpt(answer.text)}`,
    );
  }
}
