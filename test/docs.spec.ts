import { getMetadataStorage } from 'class-validator';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { EnvDto } from '../src/config/env.schema.js';

// docs/configuration.md is checked against the env schema, so the two cannot drift apart; and
// nothing in the repository may point at a contract file that lives outside it.

const ROOT = resolve(import.meta.dirname, '..');
const CONFIGURATION = join(ROOT, 'docs', 'configuration.md');

/**
 * Variables documented in docs/configuration.md (the service's contract) that EnvDto does not
 * know yet because the work that adds them is under way. Remove a name here when it lands in
 * env.schema.ts: this test fails while a name is in both.
 */
const PLANNED: ReadonlySet<string> = new Set([
  // embedded store (SQLite) and its memory bound
]);

/**
 * Values documented for a variable that its `@IsIn` list does not accept yet (same rule: remove
 * them here when the schema accepts them).
 */
const PLANNED_VALUES: Readonly<Record<string, readonly string[]>> = {};

interface Row {
  variable: string;
  line: string;
}

/** Rows of every `| variable | default | meaning |` table: the one variable each names. */
function documentedRows(markdown: string): Row[] {
  const rows: Row[] = [];
  let inTable = false;
  for (const line of markdown.split('\n')) {
    if (/^\|\s*variable\s*\|\s*default\s*\|\s*meaning\s*\|\s*$/.test(line)) {
      inTable = true;
      continue;
    }
    if (!inTable) continue;
    if (!line.startsWith('|')) {
      inTable = false;
      continue;
    }
    if (/^\|\s*-+\s*\|/.test(line)) continue;
    const firstCell = line.split('|')[1];
    const names = [...firstCell.matchAll(/`([^`]+)`/g)].map((match) => match[1]);
    rows.push({ variable: names.length === 1 ? names[0] : firstCell.trim(), line });
  }
  return rows;
}

function schemaVariables(): Map<string, string[]> {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(EnvDto, '', true, false);
  const variables = new Map<string, string[]>();
  for (const { propertyName, name, constraints } of metadata) {
    if (!variables.has(propertyName)) variables.set(propertyName, []);
    if (name === 'isIn') variables.get(propertyName)!.push(...(constraints[0] as string[]));
  }
  return variables;
}

const SCANNED_DIRECTORIES = ['src', 'test', 'bench', 'docs'];
const SCANNED_FILES = ['README.md', 'CHANGELOG.md'];
// Built from parts so that this file does not itself hold the references it looks for.
const SHARED = ['sha', 'red'].join('');
const OUTSIDE_REFERENCES = [
  new RegExp(`\\.\\./${SHARED}`),
  new RegExp(`/work/${SHARED}`),
  new RegExp(['CONTRACT', 'section'].join(' '), 'i'),
];

function filesUnder(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('docs/configuration.md', () => {
  const rows = documentedRows(readFileSync(CONFIGURATION, 'utf8'));
  const schema = schemaVariables();
  const documented = new Set(rows.map((row) => row.variable));

  it('is read: its tables have rows and the schema has properties', () => {
    expect(rows.length).toBeGreaterThan(50);
    expect(schema.has('PORT')).toBe(true);
  });

  it('names exactly one variable in each row, each once', () => {
    const malformed = rows.filter((row) => !/^[A-Za-z][A-Za-z0-9_]*$/.test(row.variable));
    expect(malformed.map((row) => row.line)).toEqual([]);
    const repeated = rows.filter(
      (row, at) => rows.findIndex((r) => r.variable === row.variable) < at,
    );
    expect(repeated.map((row) => row.variable)).toEqual([]);
  });

  it('has a row for every variable of the env schema', () => {
    expect([...schema.keys()].filter((variable) => !documented.has(variable))).toEqual([]);
  });

  it('has no row for a variable the schema does not know, except the planned ones', () => {
    const unknown = [...documented].filter((v) => !schema.has(v) && !PLANNED.has(v));
    expect(unknown).toEqual([]);
  });

  it('keeps the planned list short: a variable that has landed in the schema leaves it', () => {
    expect([...PLANNED].filter((variable) => schema.has(variable))).toEqual([]);
    expect([...PLANNED].filter((variable) => !documented.has(variable))).toEqual([]);
  });

  it('lists every value a variable accepts, and the planned values it does not accept yet', () => {
    const missing: string[] = [];
    const landed: string[] = [];
    for (const [variable, accepted] of schema) {
      const line = rows.find((row) => row.variable === variable)?.line ?? '';
      const planned = PLANNED_VALUES[variable] ?? [];
      for (const value of [...accepted, ...planned]) {
        if (!line.includes(`\`${value}\``)) missing.push(`${variable}=${value}`);
      }
      for (const value of planned) {
        if (accepted.includes(value)) landed.push(`${variable}=${value}`);
      }
    }
    expect(missing).toEqual([]);
    expect(landed).toEqual([]);
  });
});

describe('references outside the repository', () => {
  it('are nowhere in src/, test/, bench/, docs/, README.md or CHANGELOG.md', () => {
    const self = resolve(import.meta.filename);
    const files = [
      ...SCANNED_DIRECTORIES.flatMap((directory) => filesUnder(join(ROOT, directory))),
      ...SCANNED_FILES.map((file) => join(ROOT, file)).filter((path) => {
        try {
          return statSync(path).isFile();
        } catch {
          return false;
        }
      }),
    ].filter((path) => path !== self);
    expect(files.length).toBeGreaterThan(100);
    const offending = files.flatMap((path) => {
      const text = readFileSync(path, 'utf8');
      return OUTSIDE_REFERENCES.filter((pattern) => pattern.test(text)).map(
        (pattern) => `${relative(ROOT, path)}: ${pattern.source}`,
      );
    });
    expect(offending).toEqual([]);
  });
});
