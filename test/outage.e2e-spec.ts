import assert from 'node:assert/strict';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, it } from '@jest/globals';
import { Logger, type LoggerService } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import pg from 'pg';
import request, { type Response } from 'supertest';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../src/storage/typeorm/data-source-options.js';
import { aCreateBody } from './support/builders.js';
import { ManualClock } from './support/manual-clock.js';
import { createThrowawayDatabase, postgresSkipReason, type ThrowawayDatabase } from './support/postgres.js';
import { assertProblem } from './support/problem.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/*
 * The database goes away under the running service, on PostgreSQL: the service answers 503 with
 * Retry-After (never 500), says so in the logs a line per interval rather than per request,
 * reports not ready, and comes back by itself, its ticker too, once the database does.
 */

const PG_PORT = Number(new URL(process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test').port || 5432);

/** A TCP relay to PostgreSQL that the test can cut (refusing and resetting every connection) and restore. */
class CuttableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((client) => {
      const db = connect(PG_PORT, '127.0.0.1');
      this.track(client);
      this.track(db);
      client.pipe(db).pipe(client);
      const end = () => {
        client.destroy();
        db.destroy();
      };
      client.on('error', end).on('close', end);
      db.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve, reject) => this.server!.once('error', reject).listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** The database is unreachable: new connections are refused, open ones reset. */
  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server!.close(() => resolve()));
    for (const socket of this.sockets) socket.resetAndDestroy();
    await closed;
  }

  async restore(): Promise<void> {
    if (!this.server?.listening) await this.start();
  }

  async stop(): Promise<void> {
    if (this.server?.listening) await this.cut();
  }

  urlFor(database: ThrowawayDatabase): string {
    const url = new URL(database.url);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }
}

interface Line {
  level: string;
  message: string;
}

/** Captures the service's log lines (the test app is built with its logger off). */
function captureLogs(): Line[] {
  const lines: Line[] = [];
  const capture = (level: string) => (message: unknown) => void lines.push({ level, message: String(message) });
  const logger: LoggerService = { log: capture('log'), warn: capture('warn'), error: capture('error') };
  Logger.overrideLogger(logger);
  return lines;
}

async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
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
  assert.doesNotMatch(JSON.stringify(res.body), /ECONN|terminat|relation|postgres|5432/i);
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

const skip = postgresSkipReason();
const USER = { 'x-user-id': 'outage-user' };

describe('a PostgreSQL outage', () => {
  if (skip) {
    it.skip(`skipped: ${skip}`, () => undefined);
    return;
  }
  const proxy = new CuttableProxy();
  const clock = new ManualClock(new Date('2026-03-02T08:00:55.000Z'));
  let database: ThrowawayDatabase;
  let testApp: TestApp;
  let lines: Line[];
  const http = () => request(testApp.app.getHttpServer());

  beforeAll(async () => {
    database = await createThrowawayDatabase();
    await proxy.start();
    testApp = await createTestApp('postgres', {
      databaseUrl: proxy.urlFor(database),
      clock,
      scheduler: { enabled: true, intervalMs: 50, batchSize: 100 },
    });
    lines = captureLogs();
  });
  afterAll(async () => {
    await proxy.restore();
    await testApp?.close();
    await proxy.stop();
    await database?.drop();
    Logger.overrideLogger(false);
  });

  it('answers 503 with Retry-After while the database is unreachable, logs it once, and recovers by itself, its ticker too', async () => {
    const created = await http().post('/schedule').set(USER).send(aCreateBody({ cron_expression: '* * * * *', timezone: 'UTC' })).expect(201);
    const id: string = created.body.schedule_id;
    assert.equal((await http().get('/health/ready')).status, 200);

    await proxy.cut();
    // Every kind of call, several times over: all 503, none 500.
    for (let round = 0; round < 10; round++) {
      assertUnavailable(await http().get('/schedule').set(USER));
      assertUnavailable(await http().get(`/schedule/${id}`).set(USER));
      assertUnavailable(await http().post('/schedule').set(USER).send(aCreateBody()));
      assertUnavailable(await http().post(`/schedule/${id}/run`).set(USER));
      assertUnavailable(await http().get(`/schedule/${id}/sessions`).set(USER));
    }
    assertHealthDown(await http().get('/health'), 'storage');
    assertHealthDown(await http().get('/health/ready'), 'storage');
    assert.equal((await http().get('/health/live')).status, 200);
    // Its next fire time passes while the database is away; the ticker keeps failing meanwhile.
    clock.set('2026-03-02T08:01:01.000Z');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const warned = lines.filter((l) => /Storage unavailable, answering 503/.test(l.message));
    assert.equal(warned.length, 1, JSON.stringify(lines));
    assert.equal(lines.filter((l) => /Tick failed/.test(l.message)).length, 1, JSON.stringify(lines));
    assert.equal(lines.filter((l) => l.level === 'error' && !/Tick failed/.test(l.message)).length, 0, JSON.stringify(lines));

    await proxy.restore();
    await eventually(() => http().get('/schedule').set(USER), (res) => res.status === 200, 'the API to answer again');
    const ready = await eventually(() => http().get('/health/ready'), (res) => res.status === 200, 'readiness');
    assert.equal(ready.body.info.storage.status, 'up');
    const runs = await eventually(
      () => http().get(`/schedule/${id}/runs`).set(USER),
      (res) => res.status === 200 && res.body.total > 0,
      'the due schedule to fire',
    );
    assert.equal(runs.body.runs[0].status, 'succeeded');
    assert.equal(runs.body.runs[0].scheduled_for, '2026-03-02T08:01:00.000Z');
    await eventually(
      async () => lines.filter((l) => /^Ticking again after \d+ failed tick\(s\)$/.test(l.message)).length,
      (n) => n === 1,
      'the ticker to say it recovered',
    );
  });

  it('answers 200 or 503, never 500, while its connections are terminated again and again, then 200', async () => {
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      const name = new URL(database.url).pathname.slice(1);
      let terminated = 0;
      for (let round = 0; round < 15; round++) {
        const calls = [http().get('/schedule').set(USER), http().post('/schedule').set(USER).send(aCreateBody())];
        const health = http().get('/health/ready');
        const { rowCount } = await admin.query(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
          [name],
        );
        terminated += rowCount ?? 0;
        for (const res of await Promise.all(calls)) {
          if (res.status === 503) assertUnavailable(res);
          else assert.ok([200, 201].includes(res.status), `${res.status} ${JSON.stringify(res.body)}`);
        }
        const probed = await health;
        // Both the storage's ping and the scheduler's backlog read the database: whichever met a
        // terminated connection is the one reported.
        if (probed.status === 503) assertHealthDown(probed, 'storage', 'scheduler');
        else assert.equal(probed.status, 200, JSON.stringify(probed.body));
      }
      assert.ok(terminated >= 15, `only ${terminated} connections were terminated`);
      await eventually(() => http().get('/schedule').set(USER), (res) => res.status === 200, 'the API to answer again');
      assert.equal((await http().get('/health/ready')).status, 200);
    } finally {
      await admin.end();
    }
  });
});

describe('a PostgreSQL database emptied under the service', () => {
  if (skip) {
    it.skip(`skipped: ${skip}`, () => undefined);
    return;
  }
  let database: ThrowawayDatabase;
  let testApp: TestApp;
  let app: NestFastifyApplication;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    database = await createThrowawayDatabase();
    testApp = await createTestApp('postgres', { databaseUrl: database.url });
    app = testApp.app;
  });
  afterAll(async () => {
    await testApp?.close();
    await database?.drop();
  });
  afterEach(() => Logger.overrideLogger(false));

  it('is not ready and answers 503 once its tables are gone, and both again once it is migrated', async () => {
    await http().post('/schedule').set(USER).send(aCreateBody()).expect(201);
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      await admin.query('DROP TABLE runs, session_messages, sessions, schedules, outbox, dispatch_attempts, migrations');
    } finally {
      await admin.end();
    }
    const health = await http().get('/health');
    assertHealthDown(health, 'storage');
    assertHealthDown(await http().get('/health/ready'), 'storage');
    assertUnavailable(await http().get('/schedule').set(USER));
    assertUnavailable(await http().post('/schedule').set(USER).send(aCreateBody()));

    const migrate = await new DataSource(dataSourceOptions({ driver: 'postgres', sqlitePath: '', databaseUrl: database.url })).initialize();
    await migrate.destroy();
    const ready = await http().get('/health/ready');
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.equal(ready.body.info.scheduler.status, 'up');
    assert.equal(ready.body.info.scheduler.backlog, 0);
    assert.equal(ready.body.info.scheduler.oldest_due_seconds, 0);
    assert.deepEqual((await http().get('/schedule').set(USER).expect(200)).body, { schedules: [], total: 0 });
  });
});
