// Steady firing load on PostgreSQL: every-second schedules (`* * * * * *`) fired by the service in
// this process with its real ticker and the real clock. For each load: fire lag (fired_at −
// scheduled_for, read back from the runs table), fires per second, and the share of due times
// that did not fire on their own (coalesced into a catch-up run, or missed). Optionally with
// dispatch on, to a receiver in its own process that answers at once (bench/receiver.ts). See docs/benchmarks.md.
import { randomBytes } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { AppModule } from '../src/app.module.js';
import { configureApp, createHttpAdapter } from '../src/app.setup.js';
import { type AppConfig, DEFAULT_HTTP_CONFIG, DISPATCH_DEFAULTS, type DispatchConfig } from '../src/config/app-config.js';
import { BulkSql } from '../src/storage/typeorm/bulk-sql.js';
import { POSTGRES } from '../src/storage/typeorm/dialect.js';
import { dataSourceOptions } from '../src/storage/typeorm/data-source-options.js';
import { createThrowawayDatabase } from '../test/support/postgres.js';
import { cpuSample, cpuShare } from './cpu.js';
import { startReceiver } from './receiver.js';
import { everySecondScheduleRows, firstWholeSecond } from './seed.js';

export interface FiringLoadOptions {
  /** Seconds measured per load, after the warm-up. */
  seconds: number;
  /** Loads (every-second schedules) measured in record-only mode. */
  loads: number[];
  /** Loads measured again with dispatch on. */
  dispatchLoads: number[];
}

export interface FiringLoadResult {
  schedules: number;
  dispatch: boolean;
  seconds: number;
  /** Due times in the window: schedules × seconds. */
  due: number;
  /** Runs fired in the window (by fired_at), per second. */
  firesPerSecond: number;
  /** Runs for due times in the window, by trigger: cron (on its own), catchup (several due times in one), missed. */
  cron: number;
  catchup: number;
  missed: number;
  /** 1 − cron / due: the due times that did not fire on their own. */
  coalescedShare: number;
  lagP50: number;
  lagP99: number;
  lagMax: number;
  /** Webhooks the receiver answered in the window, per second (dispatch on only). */
  deliveriesPerSecond?: number;
  /**
   * CPU used in the window: this process (service + bench) and the PostgreSQL backends of its
   * database, as a share of one core; the whole machine (other work included) as a share of all cores.
   */
  cpu: { node: number; postgres: number; machine: number; cores: number };
}

const WARM_UP_SECONDS = 2;
const SCHEDULER = { enabled: true, intervalMs: 1000, batchSize: 500, claimsInFlight: 2 };

export async function firingLoadBenchmark(options: FiringLoadOptions, log: (line: string) => void): Promise<FiringLoadResult[]> {
  const results: FiringLoadResult[] = [];
  for (const schedules of options.loads) results.push(await steadyLoad(schedules, false, options.seconds, log));
  for (const schedules of options.dispatchLoads) results.push(await steadyLoad(schedules, true, options.seconds, log));
  return results;
}

export function firingLoadTable(results: FiringLoadResult[]): string[] {
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const clean = results.filter((r) => !r.dispatch && r.coalescedShare === 0).map((r) => r.schedules);
  return [
    `Steady firing — every-second schedules on PostgreSQL, one replica in process (real ticker: interval ${SCHEDULER.intervalMs} ms, batches of ${SCHEDULER.batchSize}, ${SCHEDULER.claimsInFlight} claims in flight), ${results[0]?.seconds ?? 0} s measured after ${WARM_UP_SECONDS} s`,
    '| schedules | dispatch | fires/s (target ≥ 3 000 without coalescing) | coalesced: 1 − cron runs / due times (catch-up, missed runs in the window) | lag p50 ms | lag p99 ms (target ≤ 50 at 50, ≤ 250 at 1 000) | lag max ms | webhooks/s | CPU: this process / its postgres backends (1 core = 100 %) / machine busy (all cores) |',
    '|---|---|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.schedules} | ${r.dispatch ? 'on' : 'off'} | **${r.firesPerSecond.toFixed(0)}** | ${pct(r.coalescedShare)} (${r.catchup} catch-up, ${r.missed} missed) | ` +
        `${r.lagP50} | **${r.lagP99}** | ${r.lagMax} | ${r.deliveriesPerSecond?.toFixed(0) ?? '—'} | ` +
        `${pct(r.cpu.node)} / ${pct(r.cpu.postgres)} / ${pct(r.cpu.machine)} of ${r.cpu.cores} |`,
    ),
    `Highest load with no coalescing (record-only): ${clean.length > 0 ? Math.max(...clean) : 'none'}`,
  ];
}

async function steadyLoad(schedules: number, dispatch: boolean, seconds: number, log: (line: string) => void): Promise<FiringLoadResult> {
  const db = await createThrowawayDatabase();
  const receiver = dispatch ? await startReceiver() : null;
  const dispatchConfig: DispatchConfig | null = receiver
    ? { ...DISPATCH_DEFAULTS, url: receiver.url, secret: `whsec_${randomBytes(32).toString('base64')}`, enabled: true }
    : null;
  const config: AppConfig = {
    host: '127.0.0.1',
    port: 0,
    http: DEFAULT_HTTP_CONFIG,
    storage: { driver: 'postgres', sqlitePath: '', databaseUrl: db.url },
    scheduler: SCHEDULER,
    dispatch: dispatchConfig,
  };
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), createHttpAdapter(), { logger: ['error'] });
  await configureApp(app, config);
  await app.listen(0, '127.0.0.1');
  const ds = await new DataSource(dataSourceOptions(config.storage)).initialize();
  try {
    const firstDue = firstWholeSecond();
    await new BulkSql(POSTGRES).insert(ds.manager, 'schedules', everySecondScheduleRows(schedules, firstDue));
    const from = firstDue + WARM_UP_SECONDS * 1000;
    const to = from + seconds * 1000;
    await sleepUntil(from);
    const database = new URL(db.url).pathname.slice(1);
    const cpuFrom = cpuSample([process.pid], database);
    const receivedFrom = (await receiver?.stats())?.total ?? 0;
    await sleepUntil(to);
    const cpuTo = cpuSample([process.pid], database);
    const receivedTo = (await receiver?.stats())?.total ?? 0;
    // Let the due times of the window be claimed (fired, coalesced or missed) before reading.
    await sleepUntil(to + 1500);
    const result = await readBack(ds, schedules, dispatch, seconds, from, to);
    const { processes, postgres, machine, cores } = cpuShare(cpuFrom, cpuTo);
    result.cpu = { node: processes, postgres, machine, cores };
    if (receiver) result.deliveriesPerSecond = (receivedTo - receivedFrom) / seconds;
    log(
      `  ${schedules} schedules, dispatch ${dispatch ? 'on' : 'off'}: ${result.firesPerSecond.toFixed(0)} fires/s, ` +
        `coalesced ${(result.coalescedShare * 100).toFixed(1)} %, lag p50 ${result.lagP50} p99 ${result.lagP99} max ${result.lagMax} ms` +
        (receiver ? `, ${result.deliveriesPerSecond!.toFixed(0)} webhooks/s` : '') +
        `; CPU node ${(result.cpu.node * 100).toFixed(0)} %, postgres ${(result.cpu.postgres * 100).toFixed(0)} %, machine ${(result.cpu.machine * 100).toFixed(0)} % of ${result.cpu.cores} cores`,
    );
    return result;
  } finally {
    await app.close();
    await ds.destroy();
    await receiver?.close();
    await db.drop();
  }
}

async function readBack(ds: DataSource, schedules: number, dispatch: boolean, seconds: number, from: number, to: number): Promise<FiringLoadResult> {
  const window = [new Date(from), new Date(to)];
  const byTrigger = (await ds.query(
    `SELECT trigger, status, count(*)::int AS n FROM runs WHERE scheduled_for >= $1 AND scheduled_for < $2 GROUP BY trigger, status`,
    window,
  )) as Array<{ trigger: string; status: string; n: number }>;
  const count = (test: (r: { trigger: string; status: string }) => boolean) => byTrigger.filter(test).reduce((sum, r) => sum + r.n, 0);
  const cron = count((r) => r.trigger === 'cron' && r.status !== 'missed');
  const catchup = count((r) => r.trigger === 'catchup');
  const missed = count((r) => r.status === 'missed');
  const lags = (
    (await ds.query(
      `SELECT (extract(epoch FROM fired_at - scheduled_for) * 1000)::float8 AS lag FROM runs
        WHERE scheduled_for >= $1 AND scheduled_for < $2 AND fired_at IS NOT NULL ORDER BY 1`,
      window,
    )) as Array<{ lag: number }>
  ).map((r) => r.lag);
  const [{ n: fired }] = await ds.query(`SELECT count(*)::int AS n FROM runs WHERE fired_at >= $1 AND fired_at < $2`, window);
  const at = (q: number) => (lags.length === 0 ? NaN : Math.round(lags[Math.min(lags.length - 1, Math.floor(q * lags.length))]));
  const due = schedules * seconds;
  return {
    schedules,
    dispatch,
    seconds,
    due,
    firesPerSecond: fired / seconds,
    cron,
    catchup,
    missed,
    coalescedShare: Math.max(0, 1 - cron / due),
    lagP50: at(0.5),
    lagP99: at(0.99),
    lagMax: lags.length === 0 ? NaN : Math.round(lags[lags.length - 1]),
    cpu: { node: 0, postgres: 0, machine: 0, cores: 0 },
  };
}

function sleepUntil(at: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
}

/** The loads `npm run bench` measures: short runs under BENCH_QUICK. */
export function firingLoadOptions(quick: boolean): FiringLoadOptions {
  return { seconds: quick ? 4 : 10, loads: [50, 1000, 2000, 3000, 4000, 5000], dispatchLoads: [50, 1000] };
}
