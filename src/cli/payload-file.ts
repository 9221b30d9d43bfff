import { createReadStream } from 'node:fs';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import { parse as parseCsv } from 'csv-parse';
import streamArray from 'stream-json/streamers/stream-array.js';
import { CliProblem } from './cli-problem.js';

export type PayloadFormat = 'jsonl' | 'json' | 'csv';
export type Payload = Record<string, unknown>;

const FORMAT_BY_EXTENSION: Record<string, PayloadFormat> = {
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.json': 'json',
  '.csv': 'csv',
};

export function payloadFormatOf(file: string): PayloadFormat {
  const format = FORMAT_BY_EXTENSION[extname(file).toLowerCase()];
  if (format === undefined) {
    throw new CliProblem(
      'Unknown file type',
      `${file}: name it .jsonl (one JSON object a line), .json (an array of objects) or .csv (a header row)`,
    );
  }
  return format;
}

function badInput(file: string, where: string, problem: string): CliProblem {
  return new CliProblem('Invalid input file', `${where ? `${file} ${where}` : file}: ${problem}`);
}

function isPlainObject(value: unknown): value is Payload {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function* jsonLines(file: string): AsyncGenerator<Payload> {
  const lines = createInterface({
    input: createReadStream(file, { encoding: 'utf8' }),
    crlfDelay: Infinity,
  });
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber++;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw badInput(file, `line ${lineNumber}`, `not valid JSON (${(error as Error).message})`);
    }
    if (!isPlainObject(value)) throw badInput(file, `line ${lineNumber}`, 'must be a JSON object');
    yield value;
  }
}

async function* jsonArray(file: string): AsyncGenerator<Payload> {
  const source = createReadStream(file);
  const elements = streamArray.withParserAsStream();
  source.once('error', (error) => elements.destroy(error));
  source.pipe(elements);
  try {
    for await (const { key, value } of elements as AsyncIterable<{ key: number; value: unknown }>) {
      if (!isPlainObject(value)) throw badInput(file, `element ${key}`, 'must be a JSON object');
      yield value;
    }
  } catch (error) {
    if (error instanceof CliProblem) throw error;
    throw badInput(file, '', `must be a JSON array of objects (${(error as Error).message})`);
  } finally {
    source.destroy();
  }
}

async function* csvRows(file: string): AsyncGenerator<Payload> {
  const source = createReadStream(file);
  // columns: the header row names the fields; bom: spreadsheet exports often start with one.
  const rows = parseCsv({ columns: true, bom: true, skip_empty_lines: true });
  source.once('error', (error) => rows.destroy(error));
  source.pipe(rows);
  try {
    for await (const row of rows as AsyncIterable<Payload>) yield row;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw error;
    throw badInput(file, '', (error as Error).message);
  } finally {
    source.destroy();
  }
}

/**
 * The payloads of a file, one at a time: a file of any length is read with the memory of one
 * record. Throws CliProblem naming the line (or element) of the first bad record.
 */
export async function* readPayloads(
  file: string,
  format = payloadFormatOf(file),
): AsyncGenerator<Payload> {
  try {
    if (format === 'jsonl') yield* jsonLines(file);
    else if (format === 'json') yield* jsonArray(file);
    else yield* csvRows(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
      throw new CliProblem('Cannot read the input file', (error as Error).message);
    }
    throw error;
  }
}
