import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { CliProblem, type FieldProblem } from './cli-problem.js';

/** The parts of the status body the CLI reads (the service's wire format, snake_case). */
export interface BatchSummary {
  total: number;
  successful: number;
  failed: number;
  degraded: number;
  cancelled: number;
  pending: number;
}

export interface BatchItem {
  id: string | number;
  index: number;
  status: string;
  data?: unknown;
  cached?: boolean;
  reason?: string;
  error?: string;
  error_code?: string;
  attempts?: number;
  latency_ms?: number;
}

export interface BatchStatus {
  batch_id: string;
  action_id: string;
  status: string;
  caller?: string;
  failure_reason?: string | null;
  trace_id: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  progress: number;
  summary: BatchSummary;
  latency_ms: { p50: number | null; p95: number | null; max: number | null };
  limits?: { max_workers: number; effective_workers: number; paused_until: string | null };
  redrive_count?: number;
  callback?: {
    status: string;
    attempts: number;
    last_error: string | null;
    delivered_at: string | null;
  } | null;
  items: BatchItem[];
  pagination: { offset: number; limit: number; total: number };
}

export interface BatchAccepted {
  batch_id: string;
  status: string;
  trace_id: string;
  status_url: string;
}

export interface BatchListEntry {
  batch_id: string;
  action_id: string;
  caller?: string;
  status: string;
  created_at: string;
  summary: BatchSummary;
}

export interface BatchList {
  batches: BatchListEntry[];
  next_cursor: string | null;
}

/** Answers worth asking again after a while: the service is busy or briefly unavailable. */
const RETRYABLE_STATUSES = new Set([429, 502, 503, 504]);
const MAX_RETRY_WAIT_SECONDS = 60;

/** An HTTP answer, read whole (the API's answers are at most one page of items). */
export interface HttpAnswer {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  text: string;
}

/** Seconds of a `Retry-After` header (delta-seconds or an HTTP date), else undefined. */
export function retryAfterSeconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}

function problemOf(answer: HttpAnswer): CliProblem {
  const problem = describeFailure(answer);
  problem.retryAfter = retryAfterSeconds(answer.headers['retry-after']);
  return problem;
}

function describeFailure({ status, statusText, text }: HttpAnswer): CliProblem {
  try {
    const problem = JSON.parse(text) as {
      title?: unknown;
      detail?: unknown;
      errors?: FieldProblem[];
    };
    if (typeof problem.title === 'string') {
      return new CliProblem(
        problem.title,
        typeof problem.detail === 'string' ? problem.detail : undefined,
        status,
        Array.isArray(problem.errors) ? problem.errors : [],
      );
    }
  } catch {
    // not a problem document: described below from the status line
  }
  return new CliProblem(statusText || 'HTTP error', text.slice(0, 200) || undefined, status);
}

/**
 * One HTTP exchange with node:http. A streamed body is piped with backpressure; fetch (undici)
 * was not used for it because its process grew by tens of megabytes a batch while sending
 * large streamed bodies, where node:http stays flat.
 */
function exchange(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | AsyncIterable<Buffer> | undefined,
  signal: AbortSignal | undefined,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const transport = url.protocol === 'https:' ? https : http;
    const request = transport.request(url, { method, headers, signal });
    // The service may answer before it has read the whole body (a wrong key, a body too
    // large): that answer is the outcome, not the broken pipe that follows it.
    let answered = false;
    request.once('response', (response) => {
      answered = true;
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('error', reject);
      response.once('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          statusText: response.statusMessage ?? '',
          headers: response.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    request.once('error', (error) => {
      if (!answered) reject(error);
    });
    if (body === undefined || typeof body === 'string') {
      request.end(body);
      return;
    }
    pipeline(Readable.from(body), request).catch((error: Error) => {
      if (answered) return;
      request.destroy();
      reject(error);
    });
  });
}

export interface RequestOptions {
  /** Stops waiting (between retries as well). */
  signal?: AbortSignal;
  /** Retries on 429/502/503/504, waiting Retry-After; default 3. */
  retries?: number;
  /** Also retries when the service cannot be reached (a watch outlives a restart). */
  retryUnreachable?: boolean;
  /** Told about each wait before a retry (for a line on stderr). */
  onRetry?: (problem: CliProblem, waitSeconds: number) => void;
}

/** The orchestrator's public API over HTTP, with the caller's API key. */
export class ServiceClient {
  constructor(
    readonly baseUrl: string,
    private readonly apiKey: string | undefined,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      accept: 'application/json, application/problem+json',
      ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
      ...extra,
    };
  }

  /** One HTTP exchange; a refused connection or a non-2xx answer becomes a CliProblem. */
  async send(
    method: string,
    path: string,
    init: {
      body?: string | AsyncIterable<Buffer>;
      headers?: Record<string, string>;
      signal?: AbortSignal;
    } = {},
  ): Promise<HttpAnswer> {
    let answer: HttpAnswer;
    try {
      answer = await exchange(
        new URL(`${this.baseUrl}${path}`),
        method,
        this.headers(init.headers),
        init.body,
        init.signal,
      );
    } catch (error) {
      if (init.signal?.aborted || error instanceof CliProblem) throw error;
      const { code, message } = error as NodeJS.ErrnoException;
      throw new CliProblem(
        'Cannot reach the service',
        `${this.baseUrl}: ${code ?? message} (set CXO_URL or --url)`,
      );
    }
    if (answer.status < 200 || answer.status >= 300) throw problemOf(answer);
    return answer;
  }

  /** A JSON request, asked again (bounded) while the service is busy or unreachable. */
  async json<T>(
    method: string,
    path: string,
    body?: unknown,
    options: RequestOptions = {},
  ): Promise<{ body: T; status: number }> {
    const retries = options.retries ?? 3;
    for (let attempt = 0; ; attempt++) {
      try {
        const answer = await this.send(method, path, {
          body: body === undefined ? undefined : JSON.stringify(body),
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
          signal: options.signal,
        });
        return {
          body: (answer.text ? JSON.parse(answer.text) : undefined) as T,
          status: answer.status,
        };
      } catch (error) {
        if (!(error instanceof CliProblem) || attempt >= retries) throw error;
        const retryable =
          error.status === undefined
            ? options.retryUnreachable === true
            : RETRYABLE_STATUSES.has(error.status);
        if (!retryable) throw error;
        const wait = Math.min(MAX_RETRY_WAIT_SECONDS, error.retryAfter ?? 2 ** attempt);
        options.onRetry?.(error, wait);
        await sleep(wait * 1000, undefined, { signal: options.signal });
      }
    }
  }

  async status(
    batchId: string,
    query: { offset?: number; limit?: number; status?: string } = {},
    options: RequestOptions = {},
  ): Promise<BatchStatus> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) params.set(key, String(value));
    }
    const { body } = await this.json<BatchStatus>(
      'GET',
      `/batch/${encodeURIComponent(batchId)}/status?${params.toString()}`,
      undefined,
      options,
    );
    return body;
  }

  async list(
    query: { limit?: number; cursor?: string; caller?: string },
    options: RequestOptions = {},
  ): Promise<BatchList> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) params.set(key, String(value));
    }
    const suffix = params.size > 0 ? `?${params.toString()}` : '';
    return (await this.json<BatchList>('GET', `/batch${suffix}`, undefined, options)).body;
  }

  async cancel(batchId: string): Promise<BatchStatus> {
    // Not retried on a lost answer: a second cancel of a cancelled batch is a 409.
    const path = `/batch/${encodeURIComponent(batchId)}/cancel`;
    return (await this.json<BatchStatus>('POST', path, undefined, { retries: 0 })).body;
  }

  async redrive(batchId: string, statuses: string[]): Promise<BatchStatus> {
    const path = `/batch/${encodeURIComponent(batchId)}/redrive`;
    return (await this.json<BatchStatus>('POST', path, { statuses }, { retries: 0 })).body;
  }
}
