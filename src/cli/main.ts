import { createWriteStream, readFileSync } from 'node:fs';
import { finished } from 'node:stream/promises';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CliProblem } from './cli-problem.js';
import { describeList, describeStatus } from './format.js';
import { payloadFormatOf } from './payload-file.js';
import { watchBatches } from './progress.js';
import { writeResults, type ResultFormat } from './results.js';
import { ServiceClient, type BatchSummary } from './service-client.js';
import { countPayloads, submitFile } from './submit.js';

// `cxo`: the orchestrator's command-line client. It talks to the service over its public HTTP
// API only (the same one workflow engines call), so it shares no code with the service.

const EXIT_ALL_SUCCEEDED = 0;
const EXIT_ERROR = 1;
const EXIT_NOT_ALL_SUCCEEDED = 2;
/** The shell's convention for a command stopped by Ctrl-C (128 + SIGINT). */
const EXIT_INTERRUPTED = 130;

const DEFAULT_URL = 'http://localhost:3000';
const REDRIVE_STATUSES = ['failed', 'degraded', 'cancelled'];
const ITEM_STATUSES = ['success', 'failed', 'degraded', 'cancelled', 'pending'];

function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value.trim()) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}.`);
    }
    return parsed;
  };
}

function redriveStatuses(value: string): string[] {
  const statuses = value
    .split(',')
    .map((status) => status.trim())
    .filter((status) => status.length > 0);
  const unknown = statuses.filter((status) => !REDRIVE_STATUSES.includes(status));
  if (statuses.length === 0 || unknown.length > 0) {
    throw new InvalidArgumentError(`use a comma-separated list of ${REDRIVE_STATUSES.join(', ')}.`);
  }
  return statuses;
}

function packageVersion(): string {
  try {
    const file = new URL('../../package.json', import.meta.url);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** 0 when no item failed, degraded or was cancelled; 2 otherwise. */
function outcomeExitCode(summaries: BatchSummary[]): number {
  const allSucceeded = summaries.every(
    (summary) => summary.failed + summary.degraded + summary.cancelled === 0,
  );
  return allSucceeded ? EXIT_ALL_SUCCEEDED : EXIT_NOT_ALL_SUCCEEDED;
}

/** Shows the batches' progress until they end; Ctrl-C stops the watching, not the batches. */
async function follow(client: ServiceClient, batchIds: string[]): Promise<number> {
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  process.once('SIGINT', interrupt);
  try {
    const outcome = await watchBatches(client, batchIds, {
      out: process.stderr,
      tty: process.stderr.isTTY === true,
      signal: controller.signal,
    });
    if (outcome.interrupted) {
      const them = batchIds.length === 1 ? 'The batch keeps' : 'The batches keep';
      process.stderr.write(
        `\nStopped waiting (Ctrl-C). ${them} running; follow again with: cxo watch ${batchIds.join(' ')}\n`,
      );
      return EXIT_INTERRUPTED;
    }
    return outcomeExitCode(outcome.statuses.map((status) => status.summary));
  } finally {
    process.off('SIGINT', interrupt);
  }
}

function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('cxo')
    .description('Command-line client of the CXone Data Action Orchestrator.')
    .version(packageVersion())
    .addOption(new Option('--url <url>', 'the service').env('CXO_URL').default(DEFAULT_URL))
    .addHelpText(
      'after',
      '\nThe API key is read from CXO_API_KEY.\n' +
        'Exit status: 0 every item succeeded, 2 some did not, 1 an error, 130 stopped by Ctrl-C.',
    )
    .showHelpAfterError()
    .exitOverride();

  const client = (): ServiceClient => {
    const { url } = program.opts<{ url: string }>();
    const apiKey = process.env.CXO_API_KEY;
    return new ServiceClient(url.replace(/\/+$/, ''), apiKey === '' ? undefined : apiKey);
  };

  program
    .command('submit')
    .description('Submit the payloads of FILE (.jsonl, .json array or .csv with a header row).')
    .argument('<file>', 'the payloads')
    .requiredOption('--action <id>', 'the Data Action to run')
    .option(
      '--workers <n>',
      'CXone calls of a batch in flight at once',
      integer('--workers', 1, 10000),
    )
    .option('--chunk-size <n>', 'items per chunk', integer('--chunk-size', 1, 1000))
    .option('--timeout-ms <ms>', 'timeout of each CXone call', integer('--timeout-ms', 1, 3600000))
    .option(
      '--cache-ttl <seconds>',
      'result cache lifetime, 0 for none',
      integer('--cache-ttl', 0, 86400 * 365),
    )
    .option(
      '--batch-size <n>',
      'most payloads in one batch',
      integer('--batch-size', 1, 10000000),
      100000,
    )
    .option('--idempotency-key <key>', 'the same key and file give the same batches')
    .option('--wait', 'show the progress until the batches end')
    .action(async (file: string, options) => {
      const format = payloadFormatOf(file);
      const total = await countPayloads(file, format);
      const service = client();
      // Checks the address and the key before anything is sent.
      await service.list({ limit: 1 });
      const batches = Math.ceil(total / options.batchSize);
      process.stderr.write(
        `Submitting ${total} payloads from ${file} as ${batches} batch${batches === 1 ? '' : 'es'}\n`,
      );
      const submitted = await submitFile(
        service,
        file,
        format,
        total,
        {
          actionId: options.action,
          batchSize: options.batchSize,
          maxWorkers: options.workers,
          chunkSize: options.chunkSize,
          timeoutMs: options.timeoutMs,
          cacheTtlSeconds: options.cacheTtl,
          idempotencyKey: options.idempotencyKey,
        },
        {
          accepted: (batch) => process.stdout.write(`${batch.batchId}\n`),
          waiting: (problem, seconds) =>
            process.stderr.write(`cxo: ${problem.describe()[0]}; trying again in ${seconds}s\n`),
        },
      );
      if (options.wait)
        setExitCode(
          await follow(
            service,
            submitted.map((batch) => batch.batchId),
          ),
        );
    });

  program
    .command('watch')
    .description('Show the progress of batches until they end.')
    .argument('<id...>', 'batch ids')
    .action(async (ids: string[]) => setExitCode(await follow(client(), ids)));

  program
    .command('status')
    .description("Show a batch's status.")
    .argument('<id>', 'batch id')
    .option('--json', 'the status body as the API returns it')
    .action(async (id: string, options: { json?: boolean }) => {
      const status = await client().status(id, { limit: 1 });
      process.stdout.write(
        options.json ? `${JSON.stringify(status, null, 2)}\n` : `${describeStatus(status)}\n`,
      );
      setExitCode(outcomeExitCode([status.summary]));
    });

  program
    .command('results')
    .description("Write a batch's items, page by page.")
    .argument('<id>', 'batch id')
    .addOption(
      new Option('--status <status>', 'only items with this outcome').choices(ITEM_STATUSES),
    )
    .addOption(
      new Option('--format <format>', 'jsonl or csv (default: from --out, else jsonl)').choices([
        'jsonl',
        'csv',
      ]),
    )
    .option('--out <file>', 'write to this file instead of standard output')
    .action(
      async (id: string, options: { status?: string; format?: ResultFormat; out?: string }) => {
        const format =
          options.format ?? (options.out?.toLowerCase().endsWith('.csv') ? 'csv' : 'jsonl');
        const out = options.out === undefined ? process.stdout : createWriteStream(options.out);
        const written = await writeResults(client(), id, { status: options.status, format, out });
        if (options.out !== undefined) {
          out.end();
          await finished(out);
          process.stderr.write(
            `Wrote ${written} item${written === 1 ? '' : 's'} to ${options.out}\n`,
          );
        }
      },
    );

  program
    .command('cancel')
    .description('Cancel a batch: calls in flight finish, pending items become cancelled.')
    .argument('<id>', 'batch id')
    .action(async (id: string) => {
      const status = await client().cancel(id);
      process.stdout.write(
        `${status.batch_id} ${status.status}: ${status.summary.cancelled} items cancelled, ` +
          `${status.summary.total - status.summary.pending - status.summary.cancelled} finished before\n`,
      );
    });

  program
    .command('redrive')
    .description("Run a finished batch's failed (or other) items again under the same id.")
    .argument('<id>', 'batch id')
    .option('--statuses <list>', 'outcomes to run again', redriveStatuses, ['failed', 'cancelled'])
    .option('--wait', 'show the progress until the batch ends again')
    .action(async (id: string, options: { statuses: string[]; wait?: boolean }) => {
      const service = client();
      const status = await service.redrive(id, options.statuses);
      process.stdout.write(
        `${status.batch_id} ${status.status} again (redrive ${status.redrive_count ?? '?'}): ` +
          `${status.summary.pending} items to run\n`,
      );
      if (options.wait) setExitCode(await follow(service, [status.batch_id]));
    });

  program
    .command('list')
    .description('Recent batches, newest first.')
    .option('--limit <n>', 'how many', integer('--limit', 1, 1000), 20)
    .option('--cursor <cursor>', 'the next page (printed after a full page)')
    .option('--caller <name>', 'only this caller (admin callers)')
    .option('--json', 'the list as the API returns it')
    .action(
      async (options: { limit: number; cursor?: string; caller?: string; json?: boolean }) => {
        const list = await client().list({
          limit: options.limit,
          cursor: options.cursor,
          caller: options.caller,
        });
        if (options.json) {
          process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
          return;
        }
        process.stdout.write(`${describeList(list)}\n`);
        if (list.next_cursor) {
          process.stderr.write(`More: cxo list --cursor ${list.next_cursor}\n`);
        }
      },
    );

  return program;
}

async function main(): Promise<number> {
  let exitCode = EXIT_ALL_SUCCEEDED;
  const program = buildProgram((code) => (exitCode = code));
  try {
    await program.parseAsync(process.argv);
    return exitCode;
  } catch (error) {
    // commander has printed its own message (usage errors, --help, --version).
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT_ALL_SUCCEEDED : EXIT_ERROR;
    }
    if (error instanceof CliProblem) {
      for (const line of error.describe()) process.stderr.write(`cxo: ${line}\n`);
      return EXIT_ERROR;
    }
    process.stderr.write(`cxo: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_ERROR;
  }
}

// Exits at once instead of waiting for idle keep-alive connections to close; everything was
// written (stdout and stderr are synchronous for files, pipes and terminals on Linux).
process.exit(await main());
