// Delivery to the agent runtime, end to end, on PostgreSQL: the built service (dist/) as one or
// three processes with dispatch on, every-second schedules (`* * * * * *`, overlap `allow`), and
// a receiver in its own process (bench/webhook-receiver.ts) that answers 200
// `{"status":"succeeded"}` at once. For each load: webhooks received per second, the share of the
// due fires that reached the runtime, delivery lag (webhook arrived − the run's scheduled_for),
// duplicates (a webhook-id seen twice), and the outbox's rows every second. Then 10 000
// schedules due at one instant: the time until the runtime has all 10 000. See docs/benchmarks.md.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { BulkSql } from '../src/storage/typeorm/bulk-sql.js';
import { POSTGRES } from '../src/storage/typeorm/dialect.js';
import { dataSourceOptions } from '../src/storage/typeorm/data-source-options.js';
import { toScheduleRow } from '../src/storage/typeorm/entities/row.mapper.js';
import { aSchedule } from '../test/support/builders.js';
import { createThrowawayDatabase } from '../test/support/postgres.js';
import { type CpuSample, cpuSample, type CpuShare, cpuShare } from './cpu.js';
import { type Receiver, startReceiver, stopChild } from './receiver.js';
import { everySecondScheduleRows, firstWholeSecond } from './seed.js';

export interface DispatchLoadOptions {
  /** Seconds measured per steady load, after the warm-up. */
  seconds: number;
  /** Every-second schedules of each steady load. */
  loads: number[];
  /** Replica counts each load runs with. */
  replicas: number[];
  /** Schedules due at one instant, delivered end to end (0: not measured). */
  burst: number;
}

export interface DispatchLoadResult {
  kind: 'steady' | 'burst';
  schedules: number;
  replicas: number;
  /** Steady: seconds measured. */
  seconds: number;
  /** Fires due in the window (steady: schedules × seconds), or the burst's schedules. */
  due: number;
  /** Webhooks that arrived in the window, per second. */
  webhooksPerSecond: number;
  /** Of the fires due in the window, the share whose webhook arrived (by the end of the drain). */
  share: number;
  lagP50: number | null;
  lagP99: number | null;
  lagMax: number | null;
  /** Webhooks received for a run already received. */
  duplicates: number;
  /** Rows of the outbox at each second of the window. */
  pending: number[];
  /** Burst: ms from the instant they were due to the last webhook's arrival. */
  burstMs?: number;
  cpu: CpuShare & { receiver: number };
}

const WARM_UP_SECONDS = 3;
/** After the window: time for the window's last fires to be delivered before reading. */
const DRAIN_MS = 2000;

export async function dispatchLoadBenchmark(options: DispatchLoadOptions, log: (line: string) => void): Promise<DispatchLoadResult[]> {
  const results: DispatchLoadResult[] = [];
  for (const replicas of options.replicas) {
    for (const schedules of options.loads) results.push(await steadyLoad(schedules, replicas, options.seconds, log));
    if (options.burst > 0) results.push(await burst(options.burst, replicas, log));
  }
  return results;
}

export function dispatchLoadTable(results: DispatchLoadResult[]): string[] {
  const ms = (x: number | null) => (x === null ? '—' : String(Math.round(x)));
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const steady = results.filter((r) => r.kind === 'steady');
  const bursts = results.filter((r) => r.kind === 'burst');
  return [
    `Delivery, end to end — every-second schedules (overlap allow) on PostgreSQL, the service as separate processes, a receiver process answering 200 {"status":"succeeded"}; ${steady[0]?.seconds ?? 0} s measured after ${WARM_UP_SECONDS} s`,
    '| schedules | replicas | webhooks/s | reached the runtime (target ≥ 98 %) | lag p50 ms | lag p99 ms (target ≤ 50 at 50, ≤ 250 at 1 000) | lag max ms | duplicates | outbox rows, first → last second | CPU: services / receiver / postgres (1 core = 100 %) / machine |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...steady.map(
      (r) =>
        `| ${r.schedules} | ${r.replicas} | **${r.webhooksPerSecond.toFixed(0)}** | **${pct(r.share)}** | ${ms(r.lagP50)} | **${ms(r.lagP99)}** | ${ms(r.lagMax)} | ${r.duplicates} | ` +
        `${r.pending[0] ?? '—'} → ${r.pending.at(-1) ?? '—'} (max ${Math.max(0, ...r.pending)}) | ` +
        `${pct(r.cpu.processes)} / ${pct(r.cpu.receiver)} / ${pct(r.cpu.postgres)} / ${pct(r.cpu.machine)} of ${r.cpu.cores} |`,
    ),
    ...(bursts.length > 0
      ? [
          '',
          `Burst — ${bursts[0].schedules} schedules due at one instant, dispatch on: time until the runtime has every webhook (target ≤ 4 000 ms)`,
          '| replicas | ms | delivered | duplicates | lag p50 ms | lag p99 ms |',
          '|---|---|---|---|---|---|',
          ...bursts.map((r) => `| ${r.replicas} | **${r.burstMs}** | ${pct(r.share)} | ${r.duplicates} | ${ms(r.lagP50)} | ${ms(r.lagP99)} |`),
        ]
      : []),
  ];
}

/** `count` service processes (the built dist/) on `databaseUrl`, dispatching to `url`. */
async function startServices(count: number, databaseUrl: string, url: string): Promise<ChildProcess[]> {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const root = join(import.meta.dirname, '..', '..');
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, [join(root, 'dist/src/main.js')], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        STORAGE_DRIVER: 'postgres',
        DATABASE_URL: databaseUrl,
        HOST: '127.0.0.1',
        PORT: '0',
        DISPATCH_URL: url,
        DISPATCH_SECRET: secret,
        RATE_LIMIT_PER_MINUTE: '0',
        ...(process.env.BENCH_DISPATCH_CONCURRENCY ? { DISPATCH_CONCURRENCY: process.env.BENCH_DISPATCH_CONCURRENCY } : {}),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  await Promise.all(children.map((child) => new Promise<void>((resolve) => child.stdout!.on('data', (d) => String(d).includes('Listening') && resolve()))));
  return children;
}


function sleepUntil(at: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
}

async function outboxRows(ds: DataSource): Promise<number> {
  return Number((await ds.query('SELECT count(*) AS n FROM outbox'))[0].n);
}

/** A throwaway database, the receiver and `replicas` services dispatching to it, for `measure`; all gone afterwards. */
async function withServices<T>(
  replicas: number,
  measure: (setup: { ds: DataSource; receiver: Receiver; database: string; pids: number[] }) => Promise<T>,
): Promise<T> {
  const db = await createThrowawayDatabase();
  const receiver = await startReceiver();
  const ds = await new DataSource(dataSourceOptions({ driver: 'postgres', sqlitePath: '', databaseUrl: db.url })).initialize();
  const services = await startServices(replicas, db.url, receiver.url);
  try {
    const database = new URL(db.url).pathname.slice(1);
    return await measure({ ds, receiver, database, pids: [...services.map((s) => s.pid!), receiver.pid] });
  } finally {
    await Promise.all(services.map(stopChild));
    await receiver.close();
    await ds.destroy();
    await db.drop();
  }
}

/** The CPU between two samples, the receiver's apart from the services'. */
function cpuOf(from: CpuSample, to: CpuSample, receiverPid: number): DispatchLoadResult['cpu'] {
  const share = cpuShare(from, to);
  const key = String(receiverPid);
  const receiver = ((to.processes.get(key) ?? 0) - (from.processes.get(key) ?? 0)) / ((to.at - from.at) / 1000);
  return { ...share, processes: share.processes - receiver, receiver };
}

async function steadyLoad(schedules: number, replicas: number, seconds: number, log: (line: string) => void): Promise<DispatchLoadResult> {
  return withServices(replicas, async ({ ds, receiver, database, pids }) => {
    const firstDue = firstWholeSecond();
    await new BulkSql(POSTGRES).insert(ds.manager, 'schedules', everySecondScheduleRows(schedules, firstDue));
    const from = firstDue + WARM_UP_SECONDS * 1000;
    const to = from + seconds * 1000;
    await sleepUntil(from);
    const cpuFrom = cpuSample(pids, database);
    const pending: number[] = [];
    for (let second = from; second < to; second += 1000) {
      pending.push(await outboxRows(ds));
      await sleepUntil(second + 1000);
    }
    const cpuTo = cpuSample(pids, database);
    await sleepUntil(to + DRAIN_MS);
    const stats = await receiver.stats(from, to);
    const result: DispatchLoadResult = {
      kind: 'steady',
      schedules,
      replicas,
      seconds,
      due: schedules * seconds,
      webhooksPerSecond: stats.arrived / seconds,
      share: stats.scheduled / (schedules * seconds),
      lagP50: stats.lagP50,
      lagP99: stats.lagP99,
      lagMax: stats.lagMax,
      duplicates: stats.duplicates,
      pending,
      cpu: cpuOf(cpuFrom, cpuTo, receiver.pid),
    };
    log(
      `  ${schedules} schedules × ${replicas} replica(s): ${result.webhooksPerSecond.toFixed(0)} webhooks/s, ${(result.share * 100).toFixed(1)} % of the due reached the runtime, ` +
        `lag p50 ${result.lagP50} p99 ${result.lagP99} max ${result.lagMax} ms, ${result.duplicates} duplicates, outbox ${pending.join(' ')}; ` +
        `CPU services ${(result.cpu.processes * 100).toFixed(0)} %, receiver ${(result.cpu.receiver * 100).toFixed(0)} %, postgres ${(result.cpu.postgres * 100).toFixed(0)} %, machine ${(result.cpu.machine * 100).toFixed(0)} %`,
    );
    return result;
  });
}

async function burst(count: number, replicas: number, log: (line: string) => void): Promise<DispatchLoadResult> {
  return withServices(replicas, async ({ ds, receiver, database, pids }) => {
    const dueAt = Math.ceil((Date.now() + 2000) / 1000) * 1000;
    const rows = Array.from({ length: count }, (_, i) =>
      toScheduleRow(
        aSchedule({ userId: `burst-user-${i % 100}`, cronExpression: '0 0 1 1 *', timezone: 'UTC', startedAt: null, nextRunAt: new Date(dueAt) }),
      ),
    );
    await new BulkSql(POSTGRES).insert(ds.manager, 'schedules', rows);
    await sleepUntil(dueAt);
    const cpuFrom = cpuSample(pids, database);
    const pending: number[] = [];
    const deadline = dueAt + 60_000;
    let stats = await receiver.stats();
    while (stats.distinct < count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      stats = await receiver.stats();
      if (pending.length < (Date.now() - dueAt) / 1000) pending.push(await outboxRows(ds));
    }
    const cpuTo = cpuSample(pids, database);
    const lags = await receiver.stats(dueAt, dueAt + 1);
    const result: DispatchLoadResult = {
      kind: 'burst',
      schedules: count,
      replicas,
      seconds: 0,
      due: count,
      webhooksPerSecond: 0,
      share: stats.distinct / count,
      lagP50: lags.lagP50,
      lagP99: lags.lagP99,
      lagMax: lags.lagMax,
      duplicates: stats.duplicates,
      pending,
      burstMs: (stats.lastArrivedAt ?? Date.now()) - dueAt,
      cpu: cpuOf(cpuFrom, cpuTo, receiver.pid),
    };
    log(
      `  burst of ${count} × ${replicas} replica(s): the last webhook ${result.burstMs} ms after they were due, ${stats.distinct} delivered, ` +
        `${stats.duplicates} duplicates, lag p50 ${result.lagP50} p99 ${result.lagP99} ms`,
    );
    return result;
  });
}

/**
 * The loads `npm run bench` measures: short runs under BENCH_QUICK. For a study, BENCH_LOADS,
 * BENCH_REPLICAS (comma-separated), BENCH_SECONDS and BENCH_BURST (0: none) replace them, and
 * BENCH_DISPATCH_CONCURRENCY sets the services' DISPATCH_CONCURRENCY.
 */
export function dispatchLoadOptions(quick: boolean, env: NodeJS.ProcessEnv = process.env): DispatchLoadOptions {
  const base = quick ? { seconds: 5, loads: [50, 1000], replicas: [1], burst: 10_000 } : { seconds: 60, loads: [50, 1000, 3000], replicas: [1, 3], burst: 10_000 };
  const list = (value: string | undefined) => value?.split(',').map(Number);
  return {
    seconds: Number(env.BENCH_SECONDS ?? base.seconds),
    loads: list(env.BENCH_LOADS) ?? base.loads,
    replicas: list(env.BENCH_REPLICAS) ?? base.replicas,
    burst: Number(env.BENCH_BURST ?? base.burst),
  };
}
