#!/usr/bin/env node
// `npx cxo …`: the command-line client, compiled by `npm run build` into dist/cli/.
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('cxo: not built yet; run `npm run build` first.\n');
  process.exit(1);
}
await import(main.href);
