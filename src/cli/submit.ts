import { setTimeout as sleep } from 'node:timers/promises';
import { CliProblem } from './cli-problem.js';
import { readPayloads, type Payload, type PayloadFormat } from './payload-file.js';
import type { BatchAccepted, ServiceClient } from './service-client.js';

export interface SubmitOptions {
  actionId: string;
  /** Most payloads in one batch; a longer file becomes several batches. */
  batchSize: number;
  maxWorkers?: number;
  chunkSize?: number;
  timeoutMs?: number;
  cacheTtlSeconds?: number;
  /** The first batch gets the key as given, the others `{key}-{n}` (n from 2), when several. */
  idempotencyKey?: string;
}

export interface SubmittedBatch {
  batchId: string;
  /** Index in the file of the batch's first payload. */
  firstIndex: number;
  count: number;
}

/** Characters of request body gathered before they are handed to the socket. */
const BODY_CHUNK_CHARS = 64 * 1024;
/** A busy service (429/503) is asked again this many times before the submit gives up. */
const MAX_SUBMIT_ATTEMPTS = 30;
const DEFAULT_BUSY_WAIT_SECONDS = 5;
const MAX_BUSY_WAIT_SECONDS = 60;

/** Reads every payload of the file once, checking each: a bad line stops the submit before anything is sent. */
export async function countPayloads(file: string, format: PayloadFormat): Promise<number> {
  let count = 0;
  for await (const _payload of readPayloads(file, format)) count++;
  if (count === 0) throw new CliProblem('Invalid input file', `${file} has no payloads`);
  return count;
}

function fileChanged(file: string): CliProblem {
  return new CliProblem(
    'The input file changed while it was sent',
    `${file} has fewer payloads now`,
  );
}

/** Where the next payload of the file comes from; it can start again at an index (a retried batch). */
class PayloadCursor {
  private iterator: AsyncGenerator<Payload>;
  position = 0;

  constructor(
    private readonly file: string,
    private readonly format: PayloadFormat,
  ) {
    this.iterator = readPayloads(file, format);
  }

  async next(): Promise<Payload> {
    const result = await this.iterator.next();
    if (result.done) throw fileChanged(this.file);
    this.position++;
    return result.value;
  }

  async restartAt(index: number): Promise<void> {
    await this.iterator.return(undefined);
    this.iterator = readPayloads(this.file, this.format);
    this.position = 0;
    while (this.position < index) await this.next();
  }

  async close(): Promise<void> {
    await this.iterator.return(undefined);
  }
}

/** The batch's fields other than its payloads, as the JSON that opens the body. */
export function bodyHead(options: SubmitOptions): string {
  const fields = {
    action_id: options.actionId,
    max_workers: options.maxWorkers,
    chunk_size: options.chunkSize,
    timeout_ms: options.timeoutMs,
    cache_ttl_seconds: options.cacheTtlSeconds,
  };
  return `${JSON.stringify(fields).slice(0, -1)},"payloads":[`;
}

/**
 * One batch's request body, written while it is sent: only one chunk of it is in memory, so a
 * batch of 100,000 payloads costs no more than one of ten.
 */
async function* batchBody(
  head: string,
  cursor: PayloadCursor,
  count: number,
): AsyncGenerator<Buffer> {
  let chunk = head;
  for (let n = 0; n < count; n++) {
    const payload = await cursor.next();
    chunk += (n > 0 ? ',' : '') + JSON.stringify(payload);
    if (chunk.length >= BODY_CHUNK_CHARS) {
      yield Buffer.from(chunk);
      chunk = '';
    }
  }
  yield Buffer.from(`${chunk}]}`);
}

function idempotencyKeyFor(
  options: SubmitOptions,
  batch: number,
  batches: number,
): string | undefined {
  if (options.idempotencyKey === undefined) return undefined;
  return batches === 1 || batch === 0
    ? options.idempotencyKey
    : `${options.idempotencyKey}-${batch + 1}`;
}

export interface SubmitEvents {
  /** Called as each batch is accepted, in file order. */
  accepted(batch: SubmittedBatch, of: number): void;
  /** Called before waiting out a busy service. */
  waiting(problem: CliProblem, seconds: number): void;
}

/**
 * Submits the payloads of a file as batches of at most `batchSize`, streaming each request body
 * from the file. A batch answered 429 or 503 (the caller's queue is full, the service is busy) is
 * sent again after its Retry-After, read again from the file.
 */
export async function submitFile(
  client: ServiceClient,
  file: string,
  format: PayloadFormat,
  total: number,
  options: SubmitOptions,
  events: SubmitEvents,
): Promise<SubmittedBatch[]> {
  const batches = Math.ceil(total / options.batchSize);
  const head = bodyHead(options);
  const cursor = new PayloadCursor(file, format);
  const submitted: SubmittedBatch[] = [];
  try {
    for (let batch = 0; batch < batches; batch++) {
      const firstIndex = batch * options.batchSize;
      const count = Math.min(options.batchSize, total - firstIndex);
      const key = idempotencyKeyFor(options, batch, batches);
      for (let attempt = 1; ; attempt++) {
        if (cursor.position !== firstIndex) await cursor.restartAt(firstIndex);
        try {
          const response = await client.send('POST', '/batch/execute', {
            body: batchBody(head, cursor, count),
            headers: {
              'content-type': 'application/json',
              ...(key === undefined ? {} : { 'idempotency-key': key }),
            },
          });
          const accepted = JSON.parse(response.text) as BatchAccepted;
          const entry = { batchId: accepted.batch_id, firstIndex, count };
          submitted.push(entry);
          events.accepted(entry, batches);
          break;
        } catch (error) {
          if (error instanceof CliProblem && error.status === 413) {
            throw new CliProblem(
              error.title,
              `${error.detail ?? ''} A batch of ${count} payloads is too large: try a smaller --batch-size.`.trim(),
              error.status,
              error.errors,
            );
          }
          const busy =
            error instanceof CliProblem && (error.status === 429 || error.status === 503);
          if (!busy || attempt >= MAX_SUBMIT_ATTEMPTS) throw error;
          const seconds = Math.min(
            MAX_BUSY_WAIT_SECONDS,
            error.retryAfter ?? DEFAULT_BUSY_WAIT_SECONDS,
          );
          events.waiting(error, seconds);
          await sleep(seconds * 1000);
        }
      }
    }
  } finally {
    await cursor.close();
  }
  return submitted;
}
