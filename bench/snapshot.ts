import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The built entry points the benchmark starts, relative to a build root. */
export const ENTRY_POINTS = {
  service: 'dist/main.js',
  simulator: 'dist/simulator/main.js',
  bareLoop: 'dist/bench/bare-loop.js',
} as const;

export interface BuildSnapshot {
  root: string;
  /** When dist/main.js was built. */
  builtAt: string;
  script(entry: keyof typeof ENTRY_POINTS): string;
  remove(): void;
}

const ATTEMPTS = 10;
const RETRY_MS = 3000;

/**
 * A private copy of dist/ (with package.json for "type": "module" and a link to node_modules), so
 * a `nest build` started by someone else in the same tree, which empties dist/, cannot pull the
 * service out from under a running benchmark. Waits (bounded) while dist/ is being rebuilt.
 */
export async function snapshotBuild(repoRoot: string): Promise<BuildSnapshot> {
  for (let attempt = 1; ; attempt++) {
    const missing = Object.values(ENTRY_POINTS).filter((p) => !existsSync(join(repoRoot, p)));
    if (missing.length === 0) {
      const root = mkdtempSync(join(tmpdir(), 'cxo-bench-'));
      const remove = (): void => rmSync(root, { recursive: true, force: true });
      try {
        cpSync(join(repoRoot, 'dist'), join(root, 'dist'), { recursive: true });
        copyFileSync(join(repoRoot, 'package.json'), join(root, 'package.json'));
        symlinkSync(join(repoRoot, 'node_modules'), join(root, 'node_modules'), 'dir');
        const copied = Object.values(ENTRY_POINTS).every((p) => existsSync(join(root, p)));
        if (!copied) throw new Error('dist/ changed while it was copied');
        return {
          root,
          builtAt: statSync(join(root, ENTRY_POINTS.service)).mtime.toISOString(),
          script: (entry) => join(root, ENTRY_POINTS[entry]),
          remove,
        };
      } catch (error) {
        remove();
        if (attempt >= ATTEMPTS) throw error;
      }
    } else if (attempt >= ATTEMPTS) {
      throw new Error(`${missing.join(', ')} missing: run \`npm run bench\` (it builds first)`);
    }
    await sleep(RETRY_MS);
  }
}
