import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

const TAIL_LINES = 60;

/** A child process the benchmark started; every one is stopped by `stopAll` or on exit. */
export class ManagedProcess {
  readonly pid: number;
  readonly exited: Promise<number | string>;
  private readonly lines: string[] = [];
  private readonly listeners = new Set<(line: string) => void>();
  private exitDescription: string | null = null;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    if (child.pid === undefined) throw new Error(`${name}: could not be started`);
    this.pid = child.pid;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitDescription = signal ? `killed by ${signal}` : `exited with code ${code}`;
        running.delete(this);
        resolve(signal ?? code ?? 'unknown');
      });
      child.once('error', (error) => {
        this.exitDescription = `failed: ${error.message}`;
        running.delete(this);
        resolve('error');
      });
    });
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => this.onLine(line));
    }
  }

  get hasExited(): boolean {
    return this.exitDescription !== null;
  }

  /** The last lines the process printed, for error messages. */
  tail(count = 15): string {
    const lines = this.lines.slice(-count);
    return lines.length === 0 ? '(no output)' : lines.join('\n');
  }

  describeExit(): string {
    return `${this.name} (pid ${this.pid}) ${this.exitDescription ?? 'is running'}`;
  }

  /** Resolves with the first line (printed from now on) matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      const listener = (line: string): void => {
        const match = pattern.exec(line);
        if (match) {
          done();
          resolve(match);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.listeners.add(listener);
      void this.exited.then(() => {
        if (!this.listeners.has(listener)) return;
        done();
        reject(new Error(`${this.describeExit()} before printing ${pattern}:\n${this.tail()}`));
      });
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.hasExited) return;
    this.child.kill('SIGTERM');
    const gone = await Promise.race([this.exited.then(() => true), sleep(graceMs, false)]);
    if (!gone && !this.hasExited) {
      this.child.kill('SIGKILL');
      await Promise.race([this.exited, sleep(2000)]);
    }
  }

  private onLine(line: string): void {
    this.lines.push(line);
    if (this.lines.length > TAIL_LINES) this.lines.shift();
    for (const listener of [...this.listeners]) listener(line);
  }
}

const running = new Set<ManagedProcess>();
let tasksetAvailable: boolean | undefined;

function hasTaskset(): boolean {
  if (tasksetAvailable === undefined) {
    try {
      execFileSync('taskset', ['-V'], { stdio: 'ignore' });
      tasksetAvailable = true;
    } catch {
      tasksetAvailable = false;
    }
  }
  return tasksetAvailable;
}

export interface StartOptions {
  env: Record<string, string>;
  /** Pin to this core with taskset (which execs node, so the pid is node's). */
  core?: number;
  /** Keep stdin open as a pipe (the bare loop reads its "go" from it). */
  stdin?: boolean;
  /** Options for node itself, before the script (V8 heap settings). */
  nodeArgs?: readonly string[];
}

/** Starts `node [nodeArgs] <script>` as a managed child with exactly the environment given. */
export function startNode(name: string, script: string, options: StartOptions): ManagedProcess {
  const pinned = options.core !== undefined && hasTaskset();
  const command = pinned ? 'taskset' : process.execPath;
  const node = [...(options.nodeArgs ?? []), script];
  const args = pinned ? ['-c', String(options.core), process.execPath, ...node] : node;
  const child = spawn(command, args, {
    env: options.env,
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  const managed = new ManagedProcess(name, child);
  running.add(managed);
  return managed;
}

/** Pins this process to a core; false when taskset is not available. */
export function pinSelf(core: number): boolean {
  if (!hasTaskset()) return false;
  try {
    execFileSync('taskset', ['-cp', String(core), String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function canPin(): boolean {
  return hasTaskset();
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

/** Last resort on exit: nothing may outlive the benchmark. */
export function killAllNow(): void {
  for (const p of running) {
    try {
      p.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

const PORT_ATTEMPTS = 50;

/** The kernel's range for port 0 and outgoing connections; the bench picks its ports below it. */
function ephemeralRangeStart(): number {
  try {
    const start = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0],
    );
    if (Number.isInteger(start) && start > 2048) return start;
  } catch {
    // not Linux: fall through
  }
  return 32768;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free loopback port for a child to listen on. Chosen at random below the ephemeral range, so
 * the test suites of others on the same machine (which listen on port 0) cannot take it in the
 * second it takes the service to start.
 */
export async function freePort(): Promise<number> {
  const top = ephemeralRangeStart();
  const bottom = Math.max(1024, top - 12_000);
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = bottom + Math.floor(Math.random() * (top - bottom));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port found in ${bottom}..${top - 1} after ${PORT_ATTEMPTS} tries`);
}
