// npm run bench: list throughput against a bare baseline, history growth, firing throughput,
// stateful fire cost. Prints a table and writes bench/results/latest.json. See docs/benchmarks.md.
// BENCH_ONLY=stateful runs only the last (bench/stateful.ts) and writes bench/results/latest-stateful.json;
// BENCH_ONLY=list only the list throughput (no history growth), written to bench/results/latest-list.json.
// BENCH_ONLY=firing only the steady firing load (bench/firing-load.ts), written to bench/results/latest-firing.json.
// BENCH_ONLY=burst only the 10 000 schedules due at one instant, written to bench/results/latest-burst.json.
// BENCH_ONLY=dispatch only delivery to a runtime, end to end (bench/dispatch-load.ts), written to bench/results/latest-dispatch.json.
import 'reflect-metadata';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { AppModule } from '../src/app.module.js';
import { configureApp, createHttpAdapter } from '../src/app.setup.js';
import { type AppConfig, DEFAULT_HTTP_CONFIG, type StorageConfig } from '../src/config/app-config.js';
import type { Schedule } from '../src/domain/schedule.js';
import { fireWrite } from '../src/domain/fire.js';
import { FiringStorage } from '../src/storage/ports/firing.storage.js';
import { HistoryStorage } from '../src/storage/ports/history.storage.js';
import { ScheduleStorage } from '../src/storage/ports/schedule.storage.js';
import { BulkSql } from '../src/storage/typeorm/bulk-sql.js';
import { POSTGRES, SQLITE, type SqlDialect } from '../src/storage/typeorm/dialect.js';
import { dataSourceOptions } from '../src/storage/typeorm/data-source-options.js';
import { toScheduleRow } from '../src/storage/typeorm/entities/row.mapper.js';
import { aSchedule } from '../test/support/builders.js';
import { createThrowawayDatabase, type ThrowawayDatabase } from '../test/support/postgres.js';
import { memorySource, sqlSource, startBaseline } from './baseline-server.js';
import { measure, measureAlternating, median, type LoadSummary } from './load.js';
import { naiveMemory, naivePostgres, naiveSqlite, startNaiveBaseline, type WireSession } from './naive-baseline.js';
import { dispatchLoadBenchmark, dispatchLoadOptions, dispatchLoadTable } from './dispatch-load.js';
import { firingLoadBenchmark, firingLoadOptions, firingLoadTable } from './firing-load.js';
import { statefulBenchmark, statefulTable } from './stateful.js';
import { MEASURED_USER, measuredSchedule, measuredSessions, seedFillerSchedules, seedFillerSessions, seedMeasured } from './seed.js';

// `npm run bench` runs the compiled copy under dist/ from the project's root.
const ROOT = process.cwd();
const QUICK = process.env.BENCH_QUICK === '1';
const ONLY = process.env.BENCH_ONLY;
const LOAD = { connections: 16, seconds: QUICK ? 2 : 5, runs: QUICK ? 1 : 5 };
const LATENCY = { connections: 4, seconds: QUICK ? 2 : 5, runs: QUICK ? 1 : 3 };
const MEASURED_SESSIONS = 200;
const LARGE_TABLE = QUICK ? 100_000 : 1_000_000;
const FIRE_COUNT = 10_000;
const FIRE_RUNS = QUICK ? 1 : 5;
const ZONES = ['UTC', 'UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Shanghai'];

const log = (line: string) => process.stdout.write(`${line}\n`);

interface Store {
  storage: StorageConfig;
  dialect?: SqlDialect;
  location?: string;
  dispose(): Promise<void>;
}

async function openStore(driver: 'memory' | 'sqlite' | 'postgres'): Promise<Store> {
  if (driver === 'memory') return { storage: { driver, sqlitePath: '' }, dispose: async () => undefined };
  if (driver === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'schedules-bench-'));
    const path = join(dir, 'bench.sqlite');
    return { storage: { driver, sqlitePath: path }, dialect: SQLITE, location: path, dispose: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const db = (await createThrowawayDatabase()) as ThrowawayDatabase | string;
  if (typeof db === 'string') throw new Error(db);
  return { storage: { driver, sqlitePath: '', databaseUrl: db.url }, dialect: POSTGRES, location: db.url, dispose: () => db.drop() };
}

async function startService(storage: StorageConfig, scheduler = { enabled: false, intervalMs: 50, batchSize: 500 }) {
  // No rate limit: the bench is one caller making thousands of requests.
  const config: AppConfig = { host: '127.0.0.1', port: 0, http: DEFAULT_HTTP_CONFIG, storage, scheduler };
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), createHttpAdapter(), {
    logger: ['error', 'warn'],
  });
  await configureApp(app, config);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}` };
}

// ---- 1 and 2: list throughput against the baseline, and history growth ----

interface ListResult {
  backend: string;
  service: LoadSummary;
  baseline: LoadSummary;
  /** service / baseline requests per second. */
  ratio: number;
  naive: LoadSummary;
  /** service / naive requests per second. */
  naiveRatio: number;
  growth?: { p99Small: number; p99Large: number; largeRows: number; ratio: number };
}

async function listBenchmark(driver: 'memory' | 'sqlite' | 'postgres', growth = true): Promise<ListResult> {
  const store = await openStore(driver);
  const schedule = measuredSchedule();
  let seedDs: DataSource | undefined;
  if (store.dialect) {
    seedDs = await new DataSource(dataSourceOptions(store.storage)).initialize();
    await seedFillerSchedules(seedDs, store.dialect);
    await seedMeasured(seedDs, store.dialect, schedule, MEASURED_SESSIONS);
    await seedFillerSessions(seedDs, store.dialect, 1, 1000 - MEASURED_SESSIONS);
  }
  const { app, url } = await startService(store.storage);
  if (!store.dialect) {
    await app.get(ScheduleStorage).createSchedule(schedule);
    for (const session of measuredSessions(schedule, MEASURED_SESSIONS)) {
      await app.get(FiringStorage).recordFire({ ...fireWrite(schedule, session.createdAt), session });
    }
  }
  const path = `/schedule/${schedule.id}/sessions?limit=50`;
  const headers = { 'x-user-id': MEASURED_USER };
  const probe = await fetch(url + path, { headers });
  const body = await probe.text();
  log(`  ${driver}: a page is ${(body.length / 1024).toFixed(0)} KiB (${(body.length / 50 / 1024).toFixed(1)} KiB a session)`);

  const source = store.dialect ? sqlSource(store.dialect, store.location!) : memorySource(app.get(ScheduleStorage), app.get(HistoryStorage));
  const baseline = await startBaseline(source);
  const baselineBody = await (await fetch(baseline.url + path, { headers })).text();
  // The same values and key order (compared parsed: a stateful session's state, appended to by
  // PostgreSQL, would be jsonb's text, with spaces after ':' and ',').
  const normal = (text: string) => JSON.stringify(JSON.parse(text));
  if (normal(baselineBody) !== normal(body)) throw new Error('the baseline does not answer the same response as the service');
  const everySession = JSON.parse(await (await fetch(url + path.replace(/\?.*/, ''), { headers })).text()).sessions as WireSession[];
  const naiveSource =
    driver === 'postgres' ? naivePostgres(store.location!) : driver === 'sqlite' ? naiveSqlite(store.location!) : naiveMemory(MEASURED_USER, schedule.id, everySession);
  const naive = await startNaiveBaseline(naiveSource);
  const naiveBody = await (await fetch(naive.url + path, { headers })).text();
  if (normal(naiveBody) !== normal(body)) throw new Error('the naive baseline does not answer the same response as the service');
  log(`  ${driver}: bytes of a page: service ${body.length}, baseline ${baselineBody.length}, naive ${naiveBody.length}`);
  const [serviceLoad, baselineLoad, naiveLoad] = await measureAlternating([url + path, baseline.url + path, naive.url + path], headers, LOAD);
  await baseline.close();
  await naive.close();
  const result: ListResult = {
    backend: driver,
    service: serviceLoad,
    baseline: baselineLoad,
    ratio: serviceLoad.rps / baselineLoad.rps,
    naive: naiveLoad,
    naiveRatio: serviceLoad.rps / naiveLoad.rps,
  };
  log(
    `  ${driver}: service ${serviceLoad.rps.toFixed(0)} req/s, baseline ${baselineLoad.rps.toFixed(0)} req/s (ratio ${result.ratio.toFixed(2)}), ` +
      `naive ${naiveLoad.rps.toFixed(0)} req/s (ratio ${result.naiveRatio.toFixed(2)})`,
  );

  if (growth && seedDs && store.dialect) {
    const small = await measure(url + path, headers, LATENCY);
    const started = Date.now();
    await seedFillerSessions(seedDs, store.dialect, 1000 - MEASURED_SESSIONS + 1, LARGE_TABLE - MEASURED_SESSIONS);
    log(`  ${driver}: seeded ${LARGE_TABLE} sessions in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    const large = await measure(url + path, headers, LATENCY);
    result.growth = { p99Small: small.p99, p99Large: large.p99, largeRows: LARGE_TABLE, ratio: large.p99 / small.p99 };
    log(`  ${driver}: p99 ${small.p99} ms at 1000 sessions, ${large.p99} ms at ${LARGE_TABLE}`);
  }
  await seedDs?.destroy();
  await app.close();
  await store.dispose();
  return result;
}

// ---- 3: firing throughput ----

interface FireResult {
  backend: string;
  replicas: number;
  ms: number;
  msMin: number;
  msMax: number;
}

function dueSchedules(at: Date): Schedule[] {
  return Array.from({ length: FIRE_COUNT }, (_, i) =>
    aSchedule({
      userId: `fire-user-${i % 100}`,
      cronExpression: '0 0 1 1 *',
      timezone: ZONES[i % ZONES.length],
      startedAt: null,
      nextRunAt: at,
    }),
  );
}

async function waitUntil(done: () => Promise<boolean>, everyMs = 25, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** One process with its ticker on; seeds 10 000 schedules due at one instant; time until the last fired. */
async function fireInProcess(driver: 'memory' | 'sqlite'): Promise<number> {
  const store = await openStore(driver);
  const dueAt = new Date(Date.now() + 2000);
  const schedules = dueSchedules(dueAt);
  let ds: DataSource | undefined;
  if (store.dialect) {
    // Seeded before the service starts: SQLite has one writer at a time, and a second
    // connection writing while the ticker writes meets SQLITE_BUSY.
    ds = await new DataSource(dataSourceOptions(store.storage)).initialize();
    await new BulkSql(store.dialect).insert(ds.manager, 'schedules', schedules.map(toScheduleRow));
  }
  const { app } = await startService(store.storage, { enabled: true, intervalMs: 50, batchSize: 500 });
  const storage = app.get(ScheduleStorage);
  if (!store.dialect) for (const s of schedules) await storage.createSchedule(s);
  // Timed from when they are due or, if seeding them and starting the service took longer than
  // that (SQLite's 10 000 inserts take 4-5 s here), from when the service was up to fire them.
  const firingFrom = Math.max(dueAt.getTime(), Date.now());
  // Time until the last one fired, as the poll sees it (fired_at is the start of its batch).
  await waitUntil(async () => {
    let fired = 0;
    for (let u = 0; u < 100; u++) fired += (await storage.listSchedules(`fire-user-${u}`, { now: new Date() }, null)).items.filter((s) => s.lastRunAt).length;
    return fired === FIRE_COUNT;
  }, 100); // reading 10 000 schedules back costs time the ticker shares: poll gently
  const lastFire = Date.now();
  if (ds) await assertExactlyOnce(ds);
  await ds?.destroy();
  await app.close();
  await store.dispose();
  return lastFire - firingFrom;
}

async function assertExactlyOnce(ds: DataSource): Promise<void> {
  const [row] = await ds.query(
    `SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(DISTINCT schedule_id) FROM runs) AS schedules, (SELECT count(*) FROM sessions) AS sessions`,
  );
  if (Number(row.runs) !== FIRE_COUNT || Number(row.schedules) !== FIRE_COUNT || Number(row.sessions) !== FIRE_COUNT) {
    throw new Error(`not exactly once: ${JSON.stringify(row)}`);
  }
}

/** `replicas` service processes (the built dist/) on one PostgreSQL database. */
async function fireReplicas(replicas: number): Promise<number> {
  const store = await openStore('postgres');
  const ds = await new DataSource(dataSourceOptions(store.storage)).initialize();
  const children: ChildProcess[] = [];
  try {
    await Promise.all(
      Array.from({ length: replicas }, () => {
        const child = spawn(process.execPath, [join(ROOT, 'dist/src/main.js')], {
          env: {
            ...process.env,
            NODE_OPTIONS: '',
            STORAGE_DRIVER: 'postgres',
            DATABASE_URL: store.location,
            HOST: '127.0.0.1',
            PORT: '0',
            SCHEDULER_INTERVAL_MS: '50',
            SCHEDULER_BATCH_SIZE: '500',
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        children.push(child);
        return new Promise<void>((resolve) => child.stdout!.on('data', (d) => String(d).includes('Listening') && resolve()));
      }),
    );
    const dueAt = new Date(Date.now() + 1500);
    await new BulkSql(POSTGRES).insert(ds.manager, 'schedules', dueSchedules(dueAt).map(toScheduleRow));
    await waitUntil(async () => Number((await ds.query('SELECT count(*) AS n FROM runs'))[0].n) >= FIRE_COUNT);
    const lastFire = Date.now();
    await assertExactlyOnce(ds);
    return lastFire - dueAt.getTime();
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(null) : c.on('exit', resolve)))));
    await ds.destroy();
    await store.dispose();
  }
}

async function firingBenchmark(): Promise<FireResult[]> {
  const results: FireResult[] = [];
  const record = (backend: string, replicas: number, times: number[]) => {
    const result = { backend, replicas, ms: median(times), msMin: Math.min(...times), msMax: Math.max(...times) };
    log(`  ${backend} × ${replicas}: ${result.ms} ms (${result.msMin}–${result.msMax})`);
    results.push(result);
  };
  // Memory cannot be shared with another process, so the embedded backends fire in this one;
  // PostgreSQL fires in service processes (the built dist/), as deployed.
  for (const driver of ['memory', 'sqlite'] as const) {
    const times: number[] = [];
    for (let i = 0; i < FIRE_RUNS; i++) times.push(await fireInProcess(driver));
    record(`${driver} (in the bench process)`, 1, times);
  }
  for (const replicas of [1, 3]) {
    const times: number[] = [];
    for (let i = 0; i < FIRE_RUNS; i++) times.push(await fireReplicas(replicas));
    record('postgres (service processes)', replicas, times);
  }
  return results;
}

// ---- report ----

async function main(): Promise<void> {
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
  log(`Machine: ${machine}${QUICK ? ` (BENCH_QUICK: shorter runs${ONLY ? '' : ', 100 000 rows'})` : ''}`);
  if (ONLY !== undefined && !['stateful', 'list', 'firing', 'burst', 'dispatch'].includes(ONLY)) {
    throw new Error(`BENCH_ONLY=${ONLY}: only "stateful", "list", "firing", "burst" and "dispatch" are known`);
  }
  if (ONLY === 'dispatch') {
    log('Delivery to the runtime, end to end:');
    const dispatchLoad = await dispatchLoadBenchmark(dispatchLoadOptions(QUICK), log);
    log(['', ...dispatchLoadTable(dispatchLoad)].join('\n'));
    writeResults({ machine, date: new Date().toISOString(), quick: QUICK, only: ONLY, loadAverage: loadavg(), dispatchLoad }, 'latest-dispatch.json');
    return;
  }
  if (ONLY === 'burst') {
    log('Firing throughput (10 000 schedules due at one instant):');
    const fires = await firingBenchmark();
    log(['', ...fireTable(fires)].join('\n'));
    writeResults({ machine, date: new Date().toISOString(), quick: QUICK, only: ONLY, loadAverage: loadavg(), fires }, 'latest-burst.json');
    return;
  }
  if (ONLY === 'firing') {
    log('Steady firing load:');
    const firingLoad = await firingLoadBenchmark(firingLoadOptions(QUICK), log);
    log(['', ...firingLoadTable(firingLoad)].join('\n'));
    writeResults({ machine, date: new Date().toISOString(), quick: QUICK, only: ONLY, loadAverage: loadavg(), firingLoad }, 'latest-firing.json');
    return;
  }
  if (ONLY === 'list') {
    log('List throughput:');
    const lists: ListResult[] = [];
    for (const driver of ['memory', 'sqlite', 'postgres'] as const) lists.push(await listBenchmark(driver, false));
    log(['', ...listTable(lists)].join('\n'));
    writeResults({ machine, date: new Date().toISOString(), quick: QUICK, only: ONLY, loadAverage: loadavg(), lists }, 'latest-list.json');
    return;
  }
  if (ONLY === 'stateful') {
    log('Stateful fire cost:');
    const stateful = await statefulBenchmark(log);
    log(['', ...statefulTable(stateful)].join('\n'));
    // Its own file: a partial run does not overwrite the figures of the last full one.
    writeResults({ machine, date: new Date().toISOString(), quick: QUICK, only: ONLY, stateful }, 'latest-stateful.json');
    return;
  }
  log('List throughput and history growth:');
  const lists: ListResult[] = [];
  for (const driver of ['memory', 'sqlite', 'postgres'] as const) lists.push(await listBenchmark(driver));
  log('Firing throughput (10 000 schedules due at one instant):');
  const fires = await firingBenchmark();
  log('Steady firing load:');
  const firingLoad = await firingLoadBenchmark(firingLoadOptions(QUICK), log);
  log('Delivery to the runtime, end to end:');
  const dispatchLoad = await dispatchLoadBenchmark(dispatchLoadOptions(QUICK), log);
  log('Stateful fire cost:');
  const stateful = await statefulBenchmark(log);

  const lines = [
    '',
    ...listTable(lists),
    '',
    `History growth — same request, ${LATENCY.connections} connections, p99 ms`,
    '| backend | 1 000 sessions | ' + `${LARGE_TABLE.toLocaleString('en')} sessions | ratio (target ≤ 1.3) |`,
    '|---|---|---|---|',
    ...lists.filter((r) => r.growth).map((r) => `| ${r.backend} | ${r.growth!.p99Small} | ${r.growth!.p99Large} | **${r.growth!.ratio.toFixed(2)}** |`),
    '',
    ...fireTable(fires),
    '',
    ...firingLoadTable(firingLoad),
    '',
    ...dispatchLoadTable(dispatchLoad),
    '',
    ...statefulTable(stateful),
  ];
  log(lines.join('\n'));
  writeResults({ machine, date: new Date().toISOString(), quick: QUICK, loadAverage: loadavg(), lists, fires, firingLoad, dispatchLoad, stateful });
}

function fireTable(fires: FireResult[]): string[] {
  return [
    `Firing — ${FIRE_COUNT.toLocaleString('en')} schedules due at one instant, time until the last fired, median of ${FIRE_RUNS} (min–max)`,
    '| backend | replicas | ms (target ≤ 2000 on PostgreSQL, one replica) |',
    '|---|---|---|',
    ...fires.map((f) => `| ${f.backend} | ${f.replicas} | **${f.ms}** (${f.msMin}–${f.msMax}) |`),
  ];
}

function listTable(lists: ListResult[]): string[] {
  const rps = (s: LoadSummary) => `${s.rps.toFixed(0)} (${s.rpsMin.toFixed(0)}–${s.rpsMax.toFixed(0)})`;
  return [
    `GET /schedule/{id}/sessions?limit=50 — ${LOAD.connections} connections, median of ${LOAD.runs} × ${LOAD.seconds} s, service, baseline and naive alternating (min–max req/s); load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    '| backend | service req/s | p50 ms | p99 ms | baseline req/s | p50 ms | p99 ms | naive req/s | p50 ms | p99 ms | service/baseline | service/naive (target ≥ 1.3 PostgreSQL, ≥ 1.0 others) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...lists.map(
      (r) =>
        `| ${r.backend} | ${rps(r.service)} | ${r.service.p50} | ${r.service.p99} | ${rps(r.baseline)} | ${r.baseline.p50} | ${r.baseline.p99} | ` +
        `${rps(r.naive)} | ${r.naive.p50} | ${r.naive.p99} | **${r.ratio.toFixed(2)}** | **${r.naiveRatio.toFixed(2)}** |`,
    ),
    // Each round's ratio: the runs alternate, so round i of each was measured side by side.
    ...lists.map(
      (r) =>
        `${r.backend}, service/naive by round: ${r.service.runs.map((run, i) => (run.rps / r.naive.runs[i].rps).toFixed(2)).join(', ')}` +
        `; service/baseline by round: ${r.service.runs.map((run, i) => (run.rps / r.baseline.runs[i].rps).toFixed(2)).join(', ')}`,
    ),
  ];
}

function writeResults(results: object, file = 'latest.json'): void {
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results', file), JSON.stringify(results, null, 2));
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
