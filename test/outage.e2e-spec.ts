import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, it } from '@jest/globals';
import pg from 'pg';
import request, { type Response } from 'supertest';
import { DataSource } from 'typeorm';
import { DISPATCH_DEFAULTS, type StorageDriver } from '../src/config/app-config.js';
import { ANSWER_GRACE_MS, dataSourceOptions } from '../src/storage/typeorm/data-source-options.js';
import { aCreateBody, aSchedule } from './support/builders.js';
import { captureNestLogs } from './support/captured-logs.js';
import { aWebhookSecret } from './support/dispatch.js';
import { ManualClock } from './support/manual-clock.js';
import { PrivatePostgres, privatePostgresSkipReason } from './support/private-postgres.js';
import { assertProblem } from './support/problem.js';
import { redisSkipReason, TEST_REDIS_URL } from './support/redis.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { appStorage, createTestApp, type TestApp, type TestAppOptions } from './support/test-app.js';

/*
 * The fault matrix: every way the database can be unavailable, on the real servers (a PostgreSQL
 * server of this file's own, which it stops and restarts; SQLite files; Redis). For each fault:
 * what the API answers (a 503 problem with Retry-After, never a 500; reads where they still can),
 * what readiness says, and that the service, ticker and dispatcher included, comes back by itself
 * once the fault is gone, with no fire lost or doubled.
 */

const USER = { 'x-user-id': 'outage-user' };
/** Short bounds, so that the faults that wait them out (a lock, a partition) take a second, not ten. */
const STATEMENT_TIMEOUT_MS = 1000;
const CONNECT_TIMEOUT_MS = 1000;

async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value).slice(0, 300)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A 503 problem saying the storage is unavailable, with Retry-After, and nothing of the driver's message. */
function assertUnavailable(res: Response): void {
  assertProblem(res, 503);
  assert.equal(res.headers['retry-after'], '5');
  assert.equal(res.body.type, 'urn:schedule-service:problem:storage-unavailable');
  assert.doesNotMatch(JSON.stringify(res.body), /ECONN|terminat|relation|postgres|SQLITE|read-only|accepting|5432/i);
}

/** A 503 from /health/ready naming one of `checks` (any of them, where several read the database) as down. */
function assertHealthDown(res: Response, ...checks: string[]): void {
  assert.equal(res.status, 503, JSON.stringify(res.body));
  assert.equal(res.headers['retry-after'], '5');
  assert.equal(res.body.status, 'error');
  assert.ok(
    checks.some((check) => res.body.error?.[check]?.status === 'down'),
    `expected ${checks.join(' or ')} down: ${JSON.stringify(res.body)}`,
  );
}

/** The service's own bugs, logged as such (a 500's stack): none may come of a fault. */
function bugsLogged(errors: string[]): string[] {
  return errors.filter((line) => /^(GET|POST|PATCH|PUT|DELETE) .* failed/.test(line));
}

/** A runtime on 127.0.0.1 that completes every run it is sent (200, succeeded) and counts the webhooks by `webhook-id` (the run id). */
class CountingReceiver {
  readonly deliveries = new Map<string, number>();
  private server: Server | undefined;

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/hook`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      req.resume().on('end', () => {
        const id = String(req.headers['webhook-id']);
        this.deliveries.set(id, (this.deliveries.get(id) ?? 0) + 1);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"succeeded"}');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** One fault's service: an app on its own database of the private server, reached through a proxy the test can break. */
interface Rig {
  testApp: TestApp;
  clock: ManualClock;
  proxy: TcpProxy;
  database: string;
  http(): ReturnType<typeof request>;
  /** Runs SQL as an administrator on this rig's database (`postgres`: on the server's own). */
  admin(sql: string, params?: unknown[], database?: string): Promise<pg.QueryResult>;
}

/** Each of the service's kinds of call: the reads and the writes. */
function reads(rig: Rig, id: string): Array<Promise<Response>> {
  return [
    rig.http().get('/schedule').set(USER),
    rig.http().get(`/schedule/${id}`).set(USER),
    rig.http().get(`/schedule/${id}/sessions`).set(USER),
    rig.http().get(`/schedule/${id}/runs`).set(USER),
  ];
}

function writes(rig: Rig, id: string): Array<Promise<Response>> {
  return [
    rig.http().post('/schedule').set(USER).send(aCreateBody()),
    rig.http().patch(`/schedule/${id}`).set(USER).send({ name: 'renamed' }),
    rig.http().post(`/schedule/${id}/run`).set(USER),
  ];
}

const privateSkip = privatePostgresSkipReason();

describe('PostgreSQL unavailable, fault by fault', () => {
  if (privateSkip) {
    it.skip(`skipped: ${privateSkip}`, () => undefined);
    return;
  }
  let server: PrivatePostgres;
  let rig: Rig | undefined;
  let databases = 0;
  const logs = captureNestLogs();

  beforeAll(async () => {
    server = await PrivatePostgres.create();
  });
  afterEach(async () => {
    // A test that failed midway may have left the server stopped.
    await server.start().catch(() => undefined);
    await rig?.proxy.restore();
    await rig?.testApp.close();
    await rig?.proxy.stop();
    rig = undefined;
  });
  afterAll(() => server?.destroy());

  async function startRig(options: Omit<TestAppOptions, 'clock' | 'databaseUrl' | 'storage'> = {}): Promise<Rig> {
    const database = `outage_${databases++}`;
    const url = await server.createDatabase(database);
    const proxy = new TcpProxy(server.port);
    await proxy.start();
    const clock = new ManualClock(new Date('2026-03-02T08:00:55.000Z'));
    const testApp = await createTestApp('postgres', {
      scheduler: { enabled: true, intervalMs: 50, batchSize: 100 },
      ...options,
      clock,
      databaseUrl: proxy.urlFor(url),
      storage: { statementTimeoutMs: STATEMENT_TIMEOUT_MS, connectTimeoutMs: CONNECT_TIMEOUT_MS },
    });
    const admin = async (sql: string, params: unknown[] = [], on = database) => {
      const client = server.client(on);
      await client.connect();
      try {
        return await client.query(sql, params);
      } finally {
        await client.end();
      }
    };
    logs.capture();
    rig = { testApp, clock, proxy, database, admin, http: () => request(testApp.app.getHttpServer()) };
    return rig;
  }

  /** A schedule due every minute, whose next fire (08:01) comes while the fault lasts. */
  async function aMinutelySchedule(r: Rig): Promise<string> {
    const created = await r.http().post('/schedule').set(USER).send(aCreateBody({ cron_expression: '* * * * *', timezone: 'UTC' })).expect(201);
    return created.body.schedule_id;
  }

  /** Ends the sessions of the rig's database but the asker's (what a failover or a maintenance window does to a pool). */
  const terminateSessions = (r: Rig) =>
    r.admin('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [r.database], 'postgres');

  /** The due schedule fired once for 08:01, and its run succeeded (record-only mode). */
  async function firedOnce(r: Rig, id: string): Promise<void> {
    const runs = await eventually(
      () => r.http().get(`/schedule/${id}/runs`).set(USER),
      (res) => res.status === 200 && res.body.total > 0,
      'the due schedule to fire',
    );
    assert.equal(runs.body.total, 1, JSON.stringify(runs.body));
    assert.equal(runs.body.runs[0].scheduled_for, '2026-03-02T08:01:00.000Z');
  }

  it('server stopped: 503 everywhere, not ready, logged once; back by itself when it starts, its ticker too', async () => {
    const r = await startRig();
    const id = await aMinutelySchedule(r);
    assert.equal((await r.http().get('/health/ready')).status, 200);

    await server.stop('fast');
    for (let round = 0; round < 5; round++) {
      for (const res of await Promise.all([...reads(r, id), ...writes(r, id)])) assertUnavailable(res);
    }
    assertHealthDown(await r.http().get('/health'), 'storage');
    assertHealthDown(await r.http().get('/health/ready'), 'storage');
    assert.equal((await r.http().get('/health/live')).status, 200);
    // Its next fire time passes while the database is away; the ticker keeps failing meanwhile.
    r.clock.set('2026-03-02T08:01:01.000Z');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(logs('warn').filter((l) => /Storage unavailable, answering 503/.test(l)).length, 1, logs('warn').join('\n'));
    assert.equal(logs('error').filter((l) => /Tick failed/.test(l)).length, 1, logs('error').join('\n'));
    assert.deepEqual(bugsLogged(logs('error')), []);

    await server.start();
    await eventually(() => r.http().get('/schedule').set(USER), (res) => res.status === 200, 'the API to answer again');
    const ready = await eventually(() => r.http().get('/health/ready'), (res) => res.status === 200, 'readiness');
    assert.equal(ready.body.info.storage.status, 'up');
    await firedOnce(r, id);
    await eventually(
      async () => logs('log').filter((l) => /^Ticking again after \d+ failed tick\(s\)$/.test(l)).length,
      (n) => n === 1,
      'the ticker to say it recovered',
    );
  });

  it('unreachable (connections refused and reset): 503, not ready; back when the network is', async () => {
    const r = await startRig();
    const id = await aMinutelySchedule(r);
    await r.proxy.cut();
    for (const res of await Promise.all([...reads(r, id), ...writes(r, id)])) assertUnavailable(res);
    assertHealthDown(await r.http().get('/health/ready'), 'storage');
    r.clock.set('2026-03-02T08:01:01.000Z');
    await r.proxy.restore();
    await eventually(() => r.http().get('/health/ready'), (res) => res.status === 200, 'readiness');
    await firedOnce(r, id);
    assert.deepEqual(bugsLogged(logs('error')), []);
  });

  it('refusing new connections (ALLOW_CONNECTIONS false, its sessions ended): 503, not ready; back when it accepts them', async () => {
    const r = await startRig();
    const id = await aMinutelySchedule(r);
    await r.admin(`ALTER DATABASE ${r.database} ALLOW_CONNECTIONS false`, [], 'postgres');
    await terminateSessions(r);
    for (let round = 0; round < 3; round++) {
      for (const res of await Promise.all([...reads(r, id), ...writes(r, id)])) assertUnavailable(res);
    }
    assertHealthDown(await r.http().get('/health/ready'), 'storage');
    r.clock.set('2026-03-02T08:01:01.000Z');

    await r.admin(`ALTER DATABASE ${r.database} ALLOW_CONNECTIONS true`, [], 'postgres');
    await eventually(() => r.http().get('/health/ready'), (res) => res.status === 200, 'readiness');
    await r.http().post('/schedule').set(USER).send(aCreateBody()).expect(201);
    await firedOnce(r, id);
    assert.deepEqual(bugsLogged(logs('error')), []);
  });

  it('read-only (a standby, as a stale pool sees a failover): writes 503, reads 200, not ready; back once it takes writes', async () => {
    const r = await startRig();
    const id = await aMinutelySchedule(r);
    await r.admin(`ALTER DATABASE ${r.database} SET default_transaction_read_only = on`, [], 'postgres');
    await terminateSessions(r);
    // The setting reaches new sessions only, hence the terminations; a request may still draw a
    // pooled connection whose end the pool has not yet seen (a 503, the fault tested below), so
    // wait for the pool to have only new, read-only sessions.
    await eventually(() => Promise.all(reads(r, id)), (all) => all.every((res) => res.status === 200), 'reads on new sessions');
    for (let round = 0; round < 3; round++) {
      for (const res of await Promise.all(reads(r, id))) assert.equal(res.status, 200, JSON.stringify(res.body));
      for (const res of await Promise.all(writes(r, id))) assertUnavailable(res);
      assertUnavailable(await r.http().delete(`/schedule/${id}`).set(USER));
    }
    assertHealthDown(await r.http().get('/health/ready'), 'storage');
    // Due meanwhile: the ticker cannot claim it (its claim locks rows), and says so.
    r.clock.set('2026-03-02T08:01:01.000Z');
    await eventually(async () => logs('error').filter((l) => /Tick failed/.test(l)).length, (n) => n === 1, 'the ticker to fail');
    assert.equal((await r.http().get(`/schedule/${id}/runs`).set(USER).expect(200)).body.total, 0);

    // Writable again, without ending a session: the connections that were refused a write are
    // dropped, new ones take writes.
    await r.admin(`ALTER DATABASE ${r.database} RESET default_transaction_read_only`, [], 'postgres');
    await eventually(() => r.http().post('/schedule').set(USER).send(aCreateBody()), (res) => res.status === 201, 'a write to pass');
    await eventually(() => r.http().get('/health/ready'), (res) => res.status === 200, 'readiness');
    await firedOnce(r, id);
    assert.deepEqual(bugsLogged(logs('error')), []);
  });

  it('a table locked past the statement timeout: 503 after the timeout, not ready; back when the lock goes', async () => {
    const r = await startRig();
    const id = await aMinutelySchedule(r);
    const locker = server.client(r.database);
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE schedules IN ACCESS EXCLUSIVE MODE');
      for (const res of await Promise.all([r.http().get('/schedule').set(USER), ...writes(r, id)])) assertUnavailable(res);
      assertHealthDown(await r.http().get('/health/ready'), 'storage', 'scheduler');
      await locker.query('COMMIT');
    } finally {
      await locker.end();
    }
    await eventually(() => r.http().get('/health/ready'), (res) => res.status === 200, 'readiness');
    await r.http().post('/schedule').set(USER).send(aCreateBody()).expect(201);
    assert.deepEqual(bugsLogged(logs('error')), []);
  });

  it('a network partition (nothing gets through, nothing closes): 503 within the pool and statement bounds, not a hang; back when it heals', async () => {
    const r = await startRig();
    const id = await aMinutelySchedule(r);
    r.proxy.partition();
    // The slowest honest answer: a statement on a pooled connection waits for the statement's
    // bound and its grace, a new connection for the pool's; a second over that is a hang.
    const bound = STATEMENT_TIMEOUT_MS + ANSWER_GRACE_MS + CONNECT_TIMEOUT_MS + 1000;
    for (let round = 0; round < 2; round++) {
      const started = Date.now();
      for (const res of await Promise.all([...reads(r, id), ...writes(r, id)])) assertUnavailable(res);
      assert.ok(Date.now() - started < bound, `answered after ${Date.now() - started} ms, bound ${bound} ms`);
    }
    assertHealthDown(await r.http().get('/health/ready'), 'storage', 'scheduler', 'outbox');
    r.clock.set('2026-03-02T08:01:01.000Z');
    await new Promise((resolve) => setTimeout(resolve, 200));

    r.proxy.heal();
    await eventually(() => r.http().get('/health/ready'), (res) => res.status === 200, 'readiness');
    await r.http().post('/schedule').set(USER).send(aCreateBody()).expect(201);
    await firedOnce(r, id);
    assert.deepEqual(bugsLogged(logs('error')), []);
  });

  it('its sessions ended again and again: 200 or 503, never 500, then 200', async () => {
    const r = await startRig();
    let terminated = 0;
    for (let round = 0; round < 15; round++) {
      const calls = [r.http().get('/schedule').set(USER), r.http().post('/schedule').set(USER).send(aCreateBody())];
      const health = r.http().get('/health/ready');
      terminated += (await terminateSessions(r)).rowCount ?? 0;
      for (const res of await Promise.all(calls)) {
        if (res.status === 503) assertUnavailable(res);
        else assert.ok([200, 201].includes(res.status), `${res.status} ${JSON.stringify(res.body)}`);
      }
      const probed = await health;
      // The storage's ping and the backlog checks all read the database: whichever met an ended session is reported.
      if (probed.status === 503) assertHealthDown(probed, 'storage', 'scheduler', 'outbox');
      else assert.equal(probed.status, 200, JSON.stringify(probed.body));
    }
    assert.ok(terminated >= 15, `only ${terminated} sessions were ended`);
    await eventually(() => r.http().get('/schedule').set(USER), (res) => res.status === 200, 'the API to answer again');
    assert.equal((await r.http().get('/health/ready')).status, 200);
    assert.deepEqual(bugsLogged(logs('error')), []);
  });

  it('restarted in the middle of a burst of due fires: each fires exactly once, and each is delivered, once it is back', async () => {
    const receiver = new CountingReceiver();
    await receiver.start();
    try {
      const r = await startRig({
        scheduler: { enabled: true, intervalMs: 20, batchSize: 50, claimsInFlight: 1 },
        dispatch: { ...DISPATCH_DEFAULTS, url: receiver.url, secret: aWebhookSecret(), enabled: true, timeoutMs: 1000 },
      });
      const n = 600;
      const due = new Date('2026-03-02T08:01:00.000Z');
      const storage = appStorage(r.testApp.app);
      const schedules = Array.from({ length: n }, () =>
        aSchedule({ userId: USER['x-user-id'], cronExpression: '0 0 1 1 *', timezone: 'UTC', startedAt: null, nextRunAt: due }),
      );
      for (let i = 0; i < n; i += 50) await Promise.all(schedules.slice(i, i + 50).map((s) => storage.schedules.createSchedule(s)));

      const countRuns = async () => Number((await r.admin('SELECT count(*)::int AS n FROM runs')).rows[0].n);
      r.clock.set(due);
      const firedBefore = await eventually(countRuns, (fired) => fired > 0, 'the burst to start', 10_000);
      await server.stop('immediate');
      await server.start();

      await eventually(countRuns, (fired) => fired === n, `all ${n} to fire`);
      // Deliveries whose hand-off the crash cut short wait for their lease: let it pass.
      r.clock.set('2026-03-02T08:01:30.000Z');
      await eventually(async () => receiver.deliveries.size, (delivered) => delivered === n, `all ${n} to be delivered`);
      const perSchedule = await r.admin('SELECT schedule_id, count(*)::int AS n, min(scheduled_for) AS at FROM runs GROUP BY schedule_id');
      assert.equal(perSchedule.rows.length, n);
      for (const row of perSchedule.rows) {
        assert.equal(row.n, 1, `schedule ${row.schedule_id} fired ${row.n} times`);
        assert.equal(new Date(row.at).toISOString(), due.toISOString());
      }
      const runIds = new Set((await r.admin('SELECT id FROM runs')).rows.map((row: { id: string }) => row.id));
      assert.deepEqual(new Set(receiver.deliveries.keys()), runIds);
      await eventually(
        async () => Number((await r.admin(`SELECT count(*)::int AS n FROM runs WHERE status = 'succeeded'`)).rows[0].n),
        (succeeded) => succeeded === n,
        'every run to be recorded as delivered',
      );
      assert.ok(firedBefore < n, `the restart came after the burst (${firedBefore} of ${n} had fired)`);
      assert.deepEqual(bugsLogged(logs('error')), []);
    } finally {
      await receiver.stop();
    }
  });
});

/** A process of its own holding a SQLite file's write lock (BEGIN EXCLUSIVE) until released. */
async function holdWriteLock(path: string): Promise<{ release(): Promise<void> }> {
  const script = `
    const sqlite3 = require('sqlite3');
    const db = new sqlite3.Database(${JSON.stringify(path)});
    db.run('BEGIN EXCLUSIVE', (error) => console.log(error ? 'failed ' + error.message : 'held'));
    process.stdin.resume().on('end', () => db.run('ROLLBACK', () => db.close(() => process.exit(0))));`;
  const child: ChildProcess = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const said = await new Promise<string>((resolve) => child.stdout!.once('data', (data: Buffer) => resolve(data.toString().trim())));
  assert.equal(said, 'held');
  return {
    release: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.stdin!.end();
      }),
  };
}

describe('SQLite unavailable, fault by fault', () => {
  let testApp: TestApp;
  let sqlitePath: string;
  const http = () => request(testApp.app.getHttpServer());
  const logs = captureNestLogs();

  beforeAll(async () => {
    testApp = await createTestApp('sqlite', { scheduler: { enabled: true, intervalMs: 50, batchSize: 100 } });
    sqlitePath = testApp.app.get(DataSource).options.database as string;
  });
  afterAll(() => testApp?.close());

  it('its file held by another process’s writer: writes 503, reads 200, not ready; back when it lets go', async () => {
    const created = await http().post('/schedule').set(USER).send(aCreateBody()).expect(201);
    const id: string = created.body.schedule_id;
    const lock = await holdWriteLock(sqlitePath);
    try {
      const [write, read, health] = await Promise.all([
        http().post('/schedule').set(USER).send(aCreateBody()),
        http().get(`/schedule/${id}`).set(USER),
        http().get('/health/ready'),
      ]);
      assertUnavailable(write);
      assert.equal(read.status, 200, JSON.stringify(read.body));
      assertHealthDown(health, 'storage');
    } finally {
      await lock.release();
    }
    await http().post('/schedule').set(USER).send(aCreateBody()).expect(201);
    assert.equal((await http().get('/health/ready')).status, 200);
    assert.deepEqual(bugsLogged(logs('error')), []);
  });
});

describe.each<StorageDriver>(['sqlite', 'postgres'])('a database emptied under the service, on %s', (driver) => {
  const skip = driver === 'postgres' ? privateSkip : undefined;
  if (skip) {
    it.skip(`skipped: ${skip}`, () => undefined);
    return;
  }
  let server: PrivatePostgres | undefined;
  let testApp: TestApp;
  const http = () => request(testApp.app.getHttpServer());

  beforeAll(async () => {
    if (driver === 'postgres') server = await PrivatePostgres.create();
    testApp = await createTestApp(driver, { databaseUrl: await server?.createDatabase('emptied') });
  });
  afterAll(async () => {
    await testApp?.close();
    await server?.destroy();
  });

  it('is not ready and answers 503 once its tables are gone, and both again once it is migrated', async () => {
    await http().post('/schedule').set(USER).send(aCreateBody()).expect(201);
    const dataSource = testApp.app.get(DataSource);
    const config = driver === 'postgres'
      ? { driver, sqlitePath: '', databaseUrl: server!.urlOf('emptied') }
      : { driver, sqlitePath: dataSource.options.database as string };
    const outside = await new DataSource({ ...dataSourceOptions(config), migrationsRun: false }).initialize();
    try {
      for (const table of ['runs', 'session_messages', 'sessions', 'schedules', 'outbox', 'dispatch_attempts', 'schedule_events', 'idempotency_keys', 'migrations']) {
        await outside.query(`DROP TABLE ${table}`);
      }
    } finally {
      await outside.destroy();
    }
    assertHealthDown(await http().get('/health'), 'storage');
    assertHealthDown(await http().get('/health/ready'), 'storage');
    assertUnavailable(await http().get('/schedule').set(USER));
    assertUnavailable(await http().post('/schedule').set(USER).send(aCreateBody()));

    const migrate = await new DataSource(dataSourceOptions(config)).initialize();
    await migrate.destroy();
    const ready = await http().get('/health/ready');
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.equal(ready.body.info.scheduler.backlog, 0);
    assert.deepEqual((await http().get('/schedule').set(USER).expect(200)).body, { schedules: [], total: 0 });
  });
});

const redisSkip = await redisSkipReason();

describe('Redis unavailable under the service', () => {
  if (redisSkip) {
    it.skip(`skipped: ${redisSkip}`, () => undefined);
    return;
  }
  const N = 5;
  const proxy = new TcpProxy(Number(new URL(TEST_REDIS_URL).port || 6379));
  let testApp: TestApp;
  let users = 0;
  const http = () => request(testApp.app.getHttpServer());
  const aUser = () => ({ 'x-user-id': `outage-redis-${process.pid}-${Date.now()}-${users++}` });
  /** The statuses of `count` calls of one user, one after another (each counted before the next). */
  const statuses = async (user: Record<string, string>, count: number) => {
    const seen: number[] = [];
    for (let i = 0; i < count; i++) seen.push((await http().get('/schedule').set(user)).status);
    return seen;
  };

  beforeAll(async () => {
    await proxy.start();
    testApp = await createTestApp('memory', { rateLimit: { perMinute: N, redisUrl: proxy.urlFor(TEST_REDIS_URL) } });
  });
  afterAll(async () => {
    await proxy.restore();
    proxy.heal();
    await testApp?.close();
    await proxy.stop();
  });

  it('lets requests through uncounted while Redis is cut off or partitioned, stays ready, and counts again when it is back', async () => {
    assert.deepEqual(await statuses(aUser(), N + 1), [...Array(N).fill(200), 429]);

    await proxy.cut();
    assert.deepEqual(await statuses(aUser(), 2 * N), Array(2 * N).fill(200));
    assert.equal((await http().get('/health/ready')).status, 200);
    await proxy.restore();
    await eventually(() => statuses(aUser(), N + 1), (seen) => seen[N] === 429, 'limits to be enforced again');

    proxy.partition();
    assert.deepEqual(await statuses(aUser(), 2 * N), Array(2 * N).fill(200));
    assert.equal((await http().get('/health/ready')).status, 200);
    proxy.heal();
    await eventually(() => statuses(aUser(), N + 1), (seen) => seen[N] === 429, 'limits to be enforced again');
  });
});
