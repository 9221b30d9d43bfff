import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { runCli } from './helpers/cli.js';
import { freePort, waitFor } from './helpers/service-process.js';

// `npm run demo` (node dist/demo/main.js): what it prints works as printed.

let demo: ChildProcess | undefined;
afterAll(async () => {
  if (demo && demo.exitCode === null) {
    demo.kill('SIGINT');
    await once(demo, 'exit');
  }
});

describe('the demo', () => {
  it('prints the console URL and cxo commands that run against it', async () => {
    const port = await freePort();
    demo = spawn(process.execPath, ['dist/demo/main.js'], {
      env: { PATH: process.env.PATH ?? '', PORT: String(port), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    demo.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    demo.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitFor(async () => output.includes('Ctrl-C stops both.'), 20_000, 'the demo banner');

    const base = `http://localhost:${port}`;
    expect(output).toContain(`Web console:      ${base}/console`);
    const submit = new RegExp(
      `CXO_URL=${base} npx cxo submit (\\S+\\.csv) --action demo-flaky --workers 8 --timeout-ms 2000 --wait`,
    ).exec(output);
    expect(submit).not.toBeNull();
    expect(output).toContain(`CXO_URL=${base} npx cxo results <batch_id> --out results.csv`);

    const page = await fetch(`${base}/console`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/console/console.js');

    // The printed command, run as printed (node bin/cxo.js is what npx runs).
    const run = await runCli(
      [
        'submit',
        submit![1],
        '--action',
        'demo-flaky',
        '--workers',
        '8',
        '--timeout-ms',
        '2000',
        '--wait',
      ],
      { url: base },
    );
    expect([0, 2]).toContain(run.code);
    expect(run.stderr).toMatch(/completed: 500 items, \d+ success/);
  }, 90_000);
});
