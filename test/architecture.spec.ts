import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

// The rooms of src/ and who may import whom. dependency-cruiser and eslint's import rules judge
// module pairs; the rule here is about folders (no two import each other, no cycle through
// several), which takes a few lines over the import graph instead of a new tool. Specs beside
// the code are tests (a core spec may run against a real adapter), so only the code is judged.

const SRC = resolve(import.meta.dirname, '..', 'src');
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*['"](\.{1,2}\/[^'"]+)['"]/g;
const DYNAMIC_IMPORT = /import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.spec.ts') ? [path] : [];
  });
}

interface Edge {
  from: string;
  to: string;
}

function importEdges(): Edge[] {
  return sourceFiles(SRC).flatMap((file) => {
    const text = readFileSync(file, 'utf8');
    const specifiers = [...text.matchAll(IMPORT), ...text.matchAll(DYNAMIC_IMPORT)].map(
      (m) => m[1],
    );
    return specifiers.map((specifier) => ({
      from: relative(SRC, file),
      to: relative(SRC, resolve(dirname(file), specifier.replace(/\.js$/, '.ts'))),
    }));
  });
}

/** The folder of a file at `depth` (1: `batch`, 2: `batch/api`); undefined above that depth. */
function folderAt(file: string, depth: number): string | undefined {
  const parts = file.split('/').slice(0, -1);
  return parts.length >= depth ? parts.slice(0, depth).join('/') : undefined;
}

function folderGraph(edges: Edge[], depth: number): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    const a = folderAt(from, depth);
    const b = folderAt(to, depth);
    if (a === undefined || b === undefined || a === b) continue;
    if (depth > 1 && folderAt(from, depth - 1) !== folderAt(to, depth - 1)) continue;
    if (!graph.has(a)) graph.set(a, new Set());
    graph.get(a)!.add(b);
  }
  return graph;
}

/** Every cycle's path, found by depth-first search (each reported once, from its first node). */
function cycles(graph: Map<string, Set<string>>): string[] {
  const found: string[] = [];
  const done = new Set<string>();
  const visit = (node: string, path: string[]): void => {
    const at = path.indexOf(node);
    if (at >= 0) {
      found.push([...path.slice(at), node].join(' -> '));
      return;
    }
    if (done.has(node)) return;
    for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
    done.add(node);
  };
  for (const node of graph.keys()) visit(node, []);
  return found;
}

describe('architecture: the rooms of src/', () => {
  const edges = importEdges();

  it('reads the import graph (the check below has something to judge)', () => {
    expect(edges.length).toBeGreaterThan(150);
    expect(folderGraph(edges, 1).get('batch')).toContain('cxone');
  });

  it('has no cycle between top-level rooms', () => {
    expect(cycles(folderGraph(edges, 1))).toEqual([]);
  });

  it('has no cycle between the folders inside a room (api, core, adapters)', () => {
    expect(cycles(folderGraph(edges, 2))).toEqual([]);
  });

  it('keeps the core of a feature free of its API and its adapters', () => {
    const outward = edges.filter(
      ({ from, to }) =>
        /^[^/]+\/core\//.test(from) && /^[^/]+\/(api|memory|redis|sqlite)\//.test(to),
    );
    expect(outward).toEqual([]);
  });

  it('lets only the simulator itself and the demo import the simulator', () => {
    const intoSimulator = edges.filter(
      ({ from, to }) => to.startsWith('simulator/') && !/^(simulator|demo)\//.test(from),
    );
    expect(intoSimulator).toEqual([]);
  });

  it('detects a cycle when there is one', () => {
    const graph = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a'])],
    ]);
    expect(cycles(graph)).toEqual(['a -> b -> c -> a']);
  });
});
