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
export async function runBatch(
  baseUrl: string,
  spec: BatchSpec,
  poll: PollOptions,
): Promise<BatchRun> {
  const body = batchBody(spec);
  const pollAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const submittedAt = Date.now();
    const { batchId, submitMs } = await submit(baseUrl, body);
    const statusUrl = `${baseUrl}/batch/${batchId}/status?limit=${poll.pageSize}`;
    const deadline = submittedAt + poll.deadlineMs;
    const pollLatenciesMs: number[] = [];
    let pollErrors = 0;
    let consecutiveErrors = 0;
    let lastProblem = '';
    for (;;) {
      if (Date.now() > deadline) {
        throw new HarnessError(
          `batch ${batchId} (${spec.items} items) did not complete within ${Math.round(poll.deadlineMs / 1000)} s` +
            (lastProblem ? ` (last poll: ${lastProblem})` : ''),
        );
      }
      let elapsed = 0;
      try {
        const answer = await httpRequest(statusUrl, { agent: pollAgent, timeoutMs: 10_000 });
        elapsed = answer.elapsedMs;
        if (answer.status !== 200) {
          throw new Error(`status poll answered ${answer.status}: ${excerpt(answer.text)}`);
        }
        pollLatenciesMs.push(answer.elapsedMs);
        consecutiveErrors = 0;
        const status = parseJson<StatusBody>(answer, 'status poll');
        lastProblem = `status ${status.status}, ${status.summary.pending} pending`;
        if (status.status === 'cancelled') throw new HarnessError(`batch ${batchId} was cancelled`);
        if (status.status === 'completed') {
          const observedMs = Date.now() - submittedAt;
          const finishedAt = status.finished_at === null ? NaN : Date.parse(status.finished_at);
          const wallMs = Number.isFinite(finishedAt)
            ? Math.min(observedMs, finishedAt - submittedAt)
            : observedMs;
          const startedAt = status.started_at === null ? NaN : Date.parse(status.started_at);
          const startDelayMs = Number.isFinite(startedAt) ? startedAt - submittedAt : null;
          return {
            batchId,
            wallMs,
            observedMs,
            startDelayMs,
            submitMs,
            pollLatenciesMs,
            pollErrors,
            summary: status.summary,
          };
        }
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
      await sleep(Math.max(0, poll.intervalMs - elapsed));
    }
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
