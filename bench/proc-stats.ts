import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (`getconf CLK_TCK`). */
export function clockTicksPerSecond(): number {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (Number.isInteger(value) && value > 0) return value;
  } catch {
    // getconf missing: Linux has used 100 on every common architecture for decades.
  }
  return 100;
}

/** utime + stime of a live process, in clock ticks. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`cannot read utime/stime of pid ${pid}`);
  }
  return utime + stime;
}

function statusField(pid: number, field: string): string | undefined {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const line = status.split('\n').find((l) => l.startsWith(`${field}:`));
  return line?.slice(field.length + 1).trim();
}

function kibField(pid: number, field: string): number {
  const value = statusField(pid, field);
  const kib = value === undefined ? NaN : Number.parseInt(value, 10);
  if (!Number.isFinite(kib)) throw new Error(`cannot read ${field} of pid ${pid}`);
  return kib * 1024;
}

/** VmHWM: the peak resident set size of a live process, in bytes. */
export function peakRssBytes(pid: number): number {
  return kibField(pid, 'VmHWM');
}

/** VmRSS: the resident set size now, in bytes. */
export function rssBytes(pid: number): number {
  return kibField(pid, 'VmRSS');
}

/** The cores a process may run on, as the kernel lists them (e.g. "0" or "0-1"). */
export function cpusAllowed(pid: number): string {
  return statusField(pid, 'Cpus_allowed_list') ?? 'unknown';
}

export interface MachineInfo {
  node: string;
  platform: string;
  cpu_model: string;
  cores: number;
  memory_gb: number;
  clock_ticks_per_second: number;
}

export function machineInfo(): MachineInfo {
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu_model: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memory_gb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    clock_ticks_per_second: clockTicksPerSecond(),
  };
}

/** utime + stime and command name of every process, by pid (processes that end meanwhile are left out). */
export function allProcessTicks(): Map<number, { comm: string; ticks: number }> {
  const result = new Map<number, { comm: string; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      result.set(Number(entry), { comm, ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // the process ended meanwhile
    }
  }
  return result;
}

/** Pids of the processes whose command name is `comm` (e.g. redis-server). */
export function pidsNamed(comm: string): number[] {
  return [...allProcessTicks()].filter(([, p]) => p.comm === comm).map(([pid]) => pid);
}

/** CPU of the processes not in `own` between two snapshots, in % of one core, and the top three by name. */
export function foreignCpu(
  before: Map<number, { comm: string; ticks: number }>,
  after: Map<number, { comm: string; ticks: number }>,
  own: Set<number>,
  windowTicks: number,
): { pct: number; top: string } {
  const byName = new Map<string, number>();
  for (const [pid, { comm, ticks }] of after) {
    if (own.has(pid)) continue;
    const used = ticks - (before.get(pid)?.ticks ?? 0);
    if (used > 0) byName.set(comm, (byName.get(comm) ?? 0) + used);
  }
  const total = [...byName.values()].reduce((sum, t) => sum + t, 0);
  const top = [...byName]
    .sort((x, y) => y[1] - x[1])
    .slice(0, 3)
    .map(([comm, t]) => `${comm} ${Math.round((t / windowTicks) * 100)}%`)
    .join(', ');
  return { pct: Math.round((total / windowTicks) * 100), top };
}
