// CPU accounting from /proc (Linux), for the load benches: processes by pid, the PostgreSQL
// backends of one database, and the machine as a whole. Without /proc (not Linux) all is 0.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

export interface CpuSample {
  at: number;
  /** CPU seconds of each process counted, by pid: processes come and go, so only deltas per pid count. */
  processes: Map<string, number>;
  /** CPU seconds of each backend of the database, by pid. */
  postgres: Map<string, number>;
  /** Busy CPU seconds of the machine, all cores. */
  busy: number;
  cores: number;
}

/** CPU used between two samples, as a share of one core; `machine` as a share of all cores. */
export interface CpuShare {
  processes: number;
  postgres: number;
  machine: number;
  cores: number;
}

function cpuSeconds(pid: string): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime
  } catch {
    return null; // it ended while we looked, or there is no /proc
  }
}

/** `pids`: the processes to count; `database`: only its PostgreSQL backends count (the server's shared ones are not ours). */
export function cpuSample(pids: readonly number[], database: string): CpuSample {
  const processes = new Map<string, number>();
  for (const pid of pids) {
    const seconds = cpuSeconds(String(pid));
    if (seconds !== null) processes.set(String(pid), seconds);
  }
  const postgres = new Map<string, number>();
  let busy = 0;
  let cores = 0;
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== 'postgres') continue;
        if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(` ${database} `)) continue;
        const seconds = cpuSeconds(pid);
        if (seconds !== null) postgres.set(pid, seconds);
      } catch {
        // The process ended while we looked.
      }
    }
    const lines = readFileSync('/proc/stat', 'utf8').split('\n');
    const ticks = lines[0].trim().split(/\s+/).slice(1).map(Number);
    busy = (ticks.reduce((a, b) => a + b, 0) - ticks[3] - ticks[4]) / TICKS_PER_SECOND; // all but idle and iowait
    cores = lines.filter((l) => /^cpu\d/.test(l)).length;
  } catch {
    // No /proc: not Linux.
  }
  return { at: Date.now(), processes, postgres, busy, cores };
}

function delta(a: Map<string, number>, b: Map<string, number>): number {
  let sum = 0;
  for (const [pid, seconds] of b) sum += seconds - (a.get(pid) ?? 0);
  return sum;
}

/** CPU over the window (a process that ended inside it is not counted: an underestimate). */
export function cpuShare(a: CpuSample, b: CpuSample): CpuShare {
  const wall = (b.at - a.at) / 1000;
  return {
    processes: delta(a.processes, b.processes) / wall,
    postgres: delta(a.postgres, b.postgres) / wall,
    machine: (b.busy - a.busy) / wall / Math.max(1, b.cores),
    cores: b.cores,
  };
}
