import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

// `cxo` as a user runs it: `node bin/cxo.js …` in its own process (the built dist/cli), talking
// to a service over loopback HTTP.

export const CXO_BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'cxo.js');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Peak resident memory of the CLI process (VmHWM, kB), as last read while it ran. */
  peakRssKb: number;
}

export interface RunningCli {
  child: ChildProcess;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  done: Promise<CliRun>;
}

function vmHwmKb(pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Starts `cxo args…` with CXO_URL and CXO_API_KEY (and nothing else of this process's env but PATH). */
export function startCli(
  args: string[],
  env: { url: string; apiKey?: string; extra?: Record<string, string> },
): RunningCli {
  const child = spawn(process.execPath, [CXO_BIN, ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      CXO_URL: env.url,
      ...(env.apiKey === undefined ? {} : { CXO_API_KEY: env.apiKey }),
      ...env.extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let peakRssKb = 0;
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // VmHWM only grows: the last value read before the exit is the peak, give or take the last
  // 20 ms of the run.
  const sampler = setInterval(() => {
    const kb = child.pid === undefined ? undefined : vmHwmKb(child.pid);
    if (kb !== undefined) peakRssKb = Math.max(peakRssKb, kb);
  }, 20);
  const done = new Promise<CliRun>((resolvePromise) => {
    child.once('exit', (code, signal) => {
      clearInterval(sampler);
      // Let the pipes drain before the run is judged.
      setImmediate(() => resolvePromise({ code, signal, stdout, stderr, peakRssKb }));
    });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

export function runCli(
  args: string[],
  env: { url: string; apiKey?: string; extra?: Record<string, string> },
): Promise<CliRun> {
  return startCli(args, env).done;
}
