import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliProblem } from './cli-problem.js';
import { payloadFormatOf, readPayloads } from './payload-file.js';

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'cxo-payloads-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function read(path: string): Promise<unknown[]> {
  const payloads: unknown[] = [];
  for await (const payload of readPayloads(path)) payloads.push(payload);
  return payloads;
}

async function problemOf(path: string): Promise<CliProblem> {
  try {
    await read(path);
  } catch (error) {
    if (error instanceof CliProblem) return error;
    throw error;
  }
  throw new Error(`${path} was read without a problem`);
}

/** Real files on a shared machine: a slow disk or a busy CPU is not a failure of the reader. */
const FILE_TEST_MS = 20_000;

describe('readPayloads', () => {
  it(
    'reads JSON lines, skipping blank lines and CRLF endings',
    async () => {
      const path = file('a.jsonl', '{"id":1}\r\n\r\n{"id":"two","n":{"x":[1]}}\n');
      expect(await read(path)).toEqual([{ id: 1 }, { id: 'two', n: { x: [1] } }]);
    },
    FILE_TEST_MS,
  );

  it(
    'names the line of a JSON line that is not an object, or not JSON',
    async () => {
      const notObject = await problemOf(file('b.jsonl', '{"id":1}\n\n[2]\n'));
      expect(notObject.detail).toBe(`${join(dir, 'b.jsonl')} line 3: must be a JSON object`);
      const notJson = await problemOf(file('c.jsonl', '{"id":1}\n{"id":\n'));
      expect(notJson.detail).toMatch(/c\.jsonl line 2: not valid JSON/);
    },
    FILE_TEST_MS,
  );

  it(
    'reads the elements of a JSON array one by one, and refuses another top level',
    async () => {
      expect(await read(file('d.json', '[{"a":1}, {"b":[2,3]}]'))).toEqual([
        { a: 1 },
        { b: [2, 3] },
      ]);
      expect((await problemOf(file('e.json', '{"a":1}'))).detail).toMatch(
        /e\.json: must be a JSON array of objects/,
      );
      expect((await problemOf(file('f.json', '[{"a":1}, 7]'))).detail).toMatch(
        /f\.json element 1: must be a JSON object/,
      );
    },
    FILE_TEST_MS,
  );

  it(
    'reads CSV rows as objects of strings named by the header, past a BOM and quoted commas',
    async () => {
      const csv = '\uFEFFid,name,count\r\n1,"Doe, Jane",3\r\n2,"say ""hi""",\r\n';
      expect(await read(file('g.csv', csv))).toEqual([
        { id: '1', name: 'Doe, Jane', count: '3' },
        { id: '2', name: 'say "hi"', count: '' },
      ]);
      expect((await problemOf(file('h.csv', 'id,name\n1,a\n2\n'))).detail).toMatch(
        /h\.csv: .*line 3/,
      );
    },
    FILE_TEST_MS,
  );

  it(
    'tells a missing file and an unknown extension apart',
    async () => {
      expect((await problemOf(join(dir, 'missing.jsonl'))).title).toBe(
        'Cannot read the input file',
      );
      expect(() => payloadFormatOf('payloads.txt')).toThrow(CliProblem);
      expect(payloadFormatOf('X.NDJSON')).toBe('jsonl');
    },
    FILE_TEST_MS,
  );
});
