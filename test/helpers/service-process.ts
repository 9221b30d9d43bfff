import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { apiFor, type Api } from './api.js';
import { withDataDir } from './data-dir.js';

// A service process (`node dist/main.js`) for the tests that need one of their own: several
// replicas, a kill, or process-wide settings such as an outbound proxy.

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

export interface ServiceProcess {
  url: string;
  pid: number;
  /** Everything the process wrote, for failure messages. */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Resolves with the exit code (null when a signal ended it) once the process has ended. */
  exited: Promise<number | null>;
}

/**
 * `node dist/main.js` with `env` (on top of a minimal base; the sqlite store in a fresh directory
 * unless `env` names one or another store), ready once /health/live answers; `nodeArgs` go to
 * node before the script (`--inspect=127.0.0.1:0` for `blockEventLoop`).
 */
export async function startService(
  env: Record<string, string>,
  { nodeArgs = [] }: { nodeArgs?: string[] } = {},
): Promise<ServiceProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeArgs, 'dist/main.js'], {
    env: withDataDir({
      PATH: process.env.PATH ?? '',
      CXONE_SIMULATOR: 'true',
      AUTH_DISABLED: 'true',
      LOG_LEVEL: 'warn',
      PORT: String(port),
      ...env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  const service: ServiceProcess = {
    url,
    pid: child.pid ?? -1,
    output: () => output,
    exited,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`service exited at start:\n${output}`);
        return fetch(`${url}/health/live`).then(
          (res) => res.ok,
          () => false,
        );
      },
      15000,
      'service start',
    );
  } catch (error) {
    await service.kill();
    throw error;
  }
  return service;
}

/**
 * `node dist/main.js` expected to refuse its start: its exit code and what it wrote to stdout and
 * stderr (the base environment as in `startService`).
 */
export async function failedStart(
  env: Record<string, string>,
  timeoutMs = 15000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['dist/main.js'], {
    env: withDataDir({
      PATH: process.env.PATH ?? '',
      CXONE_SIMULATOR: 'true',
      AUTH_DISABLED: 'true',
      LOG_LEVEL: 'warn',
      PORT: String(await freePort()),
      ...env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A JSON client for a service process started with AUTH_DISABLED=true. */
export function serviceApi(baseUrl: string): Api {
  return apiFor(baseUrl, { auth: false });
}

/**
 * Runs a busy loop of `ms` on the main thread of a service started with
 * `--inspect=127.0.0.1:0`, through its inspector: the process stays alive and connected, but
 * none of its JavaScript (timers, sockets) runs meanwhile. Resolves when the loop has ended.
 */
export async function blockEventLoop(service: ServiceProcess, ms: number): Promise<void> {
  const inspector = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/.exec(
    service.output(),
  );
  if (!inspector) throw new Error(`service was not started with --inspect:\n${service.output()}`);
  const socket = new WebSocket(inspector[1]);
  try {
    await new Promise((resolve, reject) => {
      socket.addEventListener('open', resolve, { once: true });
      socket.addEventListener('error', () => reject(new Error('inspector connection failed')), {
        once: true,
      });
    });
    const answered = new Promise<void>((resolve) =>
      socket.addEventListener('message', (event) => {
        if ((JSON.parse(String(event.data)) as { id?: number }).id === 1) resolve();
      }),
    );
    socket.send(
      JSON.stringify({
        id: 1,
        method: 'Runtime.evaluate',
        params: { expression: `{ const end = Date.now() + ${ms}; while (Date.now() < end); }` },
      }),
    );
    await answered;
  } finally {
    socket.close();
  }
}
