import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from '@jest/globals';
import pg from 'pg';
import sqlite3 from 'sqlite3';
import { DataSource, type DataSourceOptions, type Logger } from 'typeorm';
import { StorageUnavailable } from '../../common/domain-errors.js';
import type { StorageConfig } from '../../config/app-config.js';
import { fireWrite, statefulSessionId } from '../../domain/fire.js';
import type { Run } from '../../domain/run.js';
import type { Schedule } from '../../domain/schedule.js';
import { DEFAULT_STORAGE_OPTIONS } from '../storage-options.js';
import { dataSourceOptions } from './data-source-options.js';
import { TypeOrmNotifications } from './postgres-due-notifications.js';
import { TypeOrmStorage } from './typeorm.storage.js';
import { aSchedule } from '../../../test/support/builders.js';
import { createThrowawayDatabase, postgresSkipReason } from '../../../test/support/postgres.js';
import { openPostgresTestStorage, openSqliteTestStorage } from '../../../test/support/test-storages.js';
import { runStorageContract } from '../../../test/storage/contract/run-storage-contract.js';
import { storedSession } from '../../../test/support/stored-sessions.js';

runStorageContract('sqlite', openSqliteTestStorage);
runStorageContract('postgres', openPostgresTestStorage, postgresSkipReason());

/** A fresh, migrated database of one dialect, for tests that break it. */
interface Scratch {
  config: StorageConfig;
  dataSource: DataSource;
  storage: TypeOrmStorage;
  /** Runs SQL on the database through the storage's own DataSource. */
  sql(query: string): Promise<unknown>;
}

interface SqlBackend {
  name: 'sqlite' | 'postgres';
  skipReason?: string;
  open(overrides?: Partial<DataSourceOptions>): Promise<Scratch>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function scratchOn(config: StorageConfig, overrides: Partial<DataSourceOptions>): Promise<Scratch> {
  const dataSource = await new DataSource({ ...dataSourceOptions(config), ...overrides } as DataSourceOptions).initialize();
  cleanups.push(async () => {
    if (dataSource.isInitialized) await dataSource.destroy();
  });
  return { config, dataSource, storage: new TypeOrmStorage(dataSource), sql: (query) => dataSource.query(query) };
}

const BACKENDS: SqlBackend[] = [
  {
    name: 'sqlite',
    async open(overrides = {}) {
      const dir = mkdtempSync(join(tmpdir(), 'schedules-sqlite-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      return scratchOn({ driver: 'sqlite', sqlitePath: join(dir, 'test.sqlite') }, overrides);
    },
  },
  {
    name: 'postgres',
    skipReason: postgresSkipReason(),
    async open(overrides = {}) {
      const db = await createThrowawayDatabase();
      cleanups.push(() => db.drop());
      return scratchOn({ driver: 'postgres', sqlitePath: '', databaseUrl: db.url }, overrides);
    },
  },
];

function isUnavailable(error: unknown): boolean {
  assert.ok(error instanceof StorageUnavailable, `expected StorageUnavailable, got ${String(error)}`);
  // The driver's error is kept for the logs, never shown: the message is the service's own.
  assert.ok(error.cause !== undefined || /schema/.test(error.message));
  return true;
}

for (const backend of BACKENDS) {
  describe(`${backend.name} storage, SQL-specific`, () => {
    if (backend.skipReason) {
      it.skip(`skipped: ${backend.skipReason}`, () => undefined);
      return;
    }

    it('trims a session kept under a higher bound to the current one at its next append', async () => {
      const { dataSource, storage } = await backend.open();
      const schedule = aSchedule({ stateful: true });
      await storage.schedules.createSchedule(schedule);
      const fires = Array.from({ length: 8 }, (_, i) => fireWrite(schedule, new Date(Date.UTC(2026, 0, 1, 0, 0, i))));
      for (const fire of fires.slice(0, 7)) await storage.firing.recordFire(fire);
      const lowered = new TypeOrmStorage(dataSource, { ...DEFAULT_STORAGE_OPTIONS, statefulSessionMaxMessages: 3 });
      const outcome = await lowered.firing.recordFire(fires[7]);
      assert.equal(outcome.status, 'fired');
      const stored = (await storedSession(storage.history, schedule, statefulSessionId(schedule.id)))!;
      assert.deepEqual(stored.state.context.map((m) => m.id), fires.slice(5).map((f) => f.message.id));
    });

    it('trims a session kept under a higher byte bound to the current one at its next append', async () => {
      const { dataSource, storage } = await backend.open();
      const schedule = aSchedule({ stateful: true, description: 'd'.repeat(2000) });
      await storage.schedules.createSchedule(schedule);
      const fires = Array.from({ length: 8 }, (_, i) => fireWrite(schedule, new Date(Date.UTC(2026, 0, 1, 0, 0, i))));
      for (const fire of fires.slice(0, 7)) await storage.firing.recordFire(fire);
      const messageBytes = Buffer.byteLength(JSON.stringify(fires[0].message));
      // Room for three messages as compact JSON and for three as jsonb prints them, not for four.
      const lowered = new TypeOrmStorage(dataSource, { ...DEFAULT_STORAGE_OPTIONS, statefulSessionMaxBytes: 3 * messageBytes + 100 });
      const outcome = await lowered.firing.recordFire(fires[7]);
      assert.equal(outcome.status, 'fired');
      const stored = (await storedSession(storage.history, schedule, statefulSessionId(schedule.id)))!;
      assert.deepEqual(stored.state.context.map((m) => m.id), fires.slice(5).map((f) => f.message.id));
    });

    describe('statements', () => {
      /** The storage on a database that logs every statement it is sent, and the log of those since the last `take`. */
      async function logged() {
        const statements: string[] = [];
        const logger: Logger = {
          logQuery: (query) => void statements.push(query.replace(/\s+/g, ' ').trim()),
          logQueryError: () => undefined,
          logQuerySlow: () => undefined,
          logSchemaBuild: () => undefined,
          logMigration: () => undefined,
          log: () => undefined,
        };
        const scratch = await backend.open({ logging: ['query'], logger });
        return { ...scratch, take: () => statements.splice(0).filter((q) => !/^(BEGIN|START TRANSACTION|COMMIT|SAVEPOINT|RELEASE SAVEPOINT)/i.test(q)) };
      }
      const dispatchedFire = (schedule: Schedule, at: Date) => fireWrite(schedule, at, 'manual', at, true);

      it('records a batch of delivery attempts with one statement per kind of write, whatever its size', async () => {
        const { storage, take } = await logged();
        const schedule = aSchedule({ overlapPolicy: 'allow' });
        await storage.schedules.createSchedule(schedule);
        const at = new Date('2026-04-01T09:00:00.000Z');
        const runs: Run[] = [];
        for (let i = 0; i < 40; i++) {
          const outcome = await storage.firing.recordFire(dispatchedFire(schedule, new Date(at.getTime() + i)));
          if (outcome.status === 'fired') runs.push(outcome.run);
        }
        assert.equal(runs.length, 40);
        take();
        const now = new Date(at.getTime() + 60_000);
        await storage.delivery.recordDeliveryAttempts(
          runs.map((run) => ({ attempt: { runId: run.id, at: now, statusCode: 202, error: null, durationMs: 3 }, result: { outcome: 'delivered' } })),
          now,
        );
        const statements = take();
        assert.equal(statements.filter((q) => q.startsWith('INSERT INTO dispatch_attempts')).length, 1, statements.join('\n'));
        assert.equal(statements.filter((q) => q.startsWith('UPDATE runs')).length, 1, statements.join('\n'));
        assert.equal(statements.filter((q) => q.startsWith('DELETE FROM outbox')).length, 1, statements.join('\n'));
        assert.ok(statements.length <= 4, statements.join('\n'));
      });

      it('appends a stateful fire without reading or rewriting the earlier messages or the session’s document', async () => {
        const { storage, dataSource, take } = await logged();
        const schedule = aSchedule({ stateful: true });
        await storage.schedules.createSchedule(schedule);
        const fires = Array.from({ length: 12 }, (_, i) => fireWrite(schedule, new Date(Date.UTC(2026, 3, 1, 9, i))));
        for (const fire of fires.slice(0, 5)) await storage.firing.recordFire(fire);
        take();
        await storage.firing.recordFire(fires[5]);
        const below = take().filter((q) => /session/.test(q));
        assert.ok(!below.some((q) => /\bstate\b/.test(q)), below.join('\n'));
        assert.deepEqual(
          below.filter((q) => /session_messages/.test(q)).map((q) => q.split(' ').slice(0, 3).join(' ')),
          ['INSERT INTO session_messages'],
        );
        // At the bound (the default 1 000 messages here is far away; the message bound is lowered
        // for the last fires): the oldest are read by the primary key, with a limit, and deleted.
        const lowered = new TypeOrmStorage(dataSource, { ...DEFAULT_STORAGE_OPTIONS, statefulSessionMaxMessages: 6 });
        await lowered.firing.recordFire(fires[6]);
        take();
        await lowered.firing.recordFire(fires[7]);
        const atBound = take().filter((q) => /session_messages/.test(q));
        assert.deepEqual(atBound.map((q) => q.split(' ').slice(0, 3).join(' ')), [
          'INSERT INTO session_messages',
          'SELECT seq, bytes',
          'DELETE FROM session_messages',
        ]);
        assert.match(atBound[1], /ORDER BY seq LIMIT/);
        const stored = (await storedSession(storage.history, schedule, statefulSessionId(schedule.id)))!;
        assert.deepEqual(stored.state.context.map((m) => m.id), fires.slice(2, 8).map((f) => f.message.id));
      });

      it('answers a page of sessions, its count and whether the schedule is the caller’s, in one statement', async () => {
        const { storage, take } = await logged();
        const schedule = aSchedule();
        await storage.schedules.createSchedule(schedule);
        for (let i = 0; i < 3; i++) await storage.firing.recordFire(fireWrite(schedule, new Date(Date.UTC(2026, 3, 1, 9, i))));
        await storage.firing.recordFire(fireWrite({ ...schedule, stateful: true }, new Date(Date.UTC(2026, 3, 1, 10))));
        take();
        const page = (await storage.history.pageSessionsJson(schedule.userId, schedule.id, { limit: 2 }))!;
        assert.equal(take().length, 1);
        assert.equal(page.total, 4);
        const next = (await storage.history.pageSessionsJson(schedule.userId, schedule.id, { limit: 2, after: page.next! }))!;
        assert.equal(take().length, 1);
        assert.equal(next.items.length, 2);
        assert.equal(await storage.history.pageSessionsJson('someone-else', schedule.id, null), null);
        assert.equal(take().length, 1);
      });
    });

    it('answers a refused statement with the driver’s error, not as unavailable', async () => {
      const { storage } = await backend.open();
      const schedule = aSchedule();
      await storage.schedules.createSchedule(schedule);
      await assert.rejects(storage.schedules.createSchedule(schedule), (error) => !(error instanceof StorageUnavailable));
    });

    it('is unavailable, and not ready, once a table is gone', async () => {
      const { storage, sql } = await backend.open();
      await storage.lifecycle.ping();
      await sql('DROP TABLE runs');
      await assert.rejects(storage.lifecycle.ping(), isUnavailable);
      await assert.rejects(storage.history.listRunsBySchedule('u', 's'), isUnavailable);
      await sql('DROP TABLE schedules');
      await assert.rejects(storage.schedules.listSchedules('u', { now: new Date() }, null), isUnavailable);
      await assert.rejects(storage.schedules.createSchedule(aSchedule()), isUnavailable);
    });

    it('is not ready while a migration is not applied', async () => {
      const { storage, sql } = await backend.open();
      await sql(`DELETE FROM migrations WHERE name LIKE 'ScheduleVersion%'`);
      await assert.rejects(storage.lifecycle.ping(), (error) => {
        assert.ok(error instanceof StorageUnavailable);
        assert.match(error.message, /schema is incomplete: 1 migration\(s\) not applied/);
        return true;
      });
    });
  });
}

describe('sqlite storage when the file is locked', () => {
  it('is unavailable past the busy timeout, and recovers when the lock goes', async () => {
    const { storage, config } = await BACKENDS[0].open({ busyTimeout: 50 } as Partial<DataSourceOptions>);
    const other = new sqlite3.Database(config.sqlitePath);
    cleanups.push(() => new Promise<void>((resolve) => other.close(() => resolve())));
    const run = (sql: string) => new Promise<void>((resolve, reject) => other.run(sql, (error) => (error ? reject(error) : resolve())));
    await run('BEGIN EXCLUSIVE');
    await assert.rejects(storage.schedules.createSchedule(aSchedule()), (error) => {
      isUnavailable(error);
      assert.equal(((error as Error).cause as { code?: string }).code, 'SQLITE_BUSY');
      return true;
    });
    await run('COMMIT');
    assert.equal(await storage.schedules.createSchedule(aSchedule()), true);
  });
});

describe('postgres storage under a slow or broken server', () => {
  const skip = postgresSkipReason();
  if (skip) {
    it.skip(`skipped: ${skip}`, () => undefined);
    return;
  }

  /** A second connection to the storage's database, to hold locks and end sessions. */
  async function adminOf(url: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    cleanups.push(() => client.end());
    return client;
  }

  /** Resolves once a backend of `database` waits for a lock; returns its pid. */
  async function waiterOn(admin: pg.Client, database: string): Promise<number> {
    for (let i = 0; i < 200; i++) {
      const { rows } = await admin.query(
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`,
        [database],
      );
      if (rows.length > 0) return rows[0].pid;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('no backend ever waited for the lock');
  }

  it('runs statements under the configured statement_timeout and pool size', async () => {
    const options = dataSourceOptions({ driver: 'postgres', sqlitePath: '', databaseUrl: 'postgres://x@h/db', poolSize: 7, statementTimeoutMs: 1234 });
    assert.equal((options as { extra: { max: number } }).extra.max, 7);
    const { dataSource } = await BACKENDS[1].open();
    const [{ statement_timeout }] = await dataSource.query('SHOW statement_timeout');
    assert.equal(statement_timeout, '10s');
  });

  it('gives up on a statement that waits past statement_timeout: unavailable, not hung', async () => {
    const { storage, config } = await BACKENDS[1].open();
    const schedule = aSchedule();
    await storage.schedules.createSchedule(schedule);
    const slow = new TypeOrmStorage(await new DataSource(dataSourceOptions({ ...config, statementTimeoutMs: 200 })).initialize());
    cleanups.push(() => slow.lifecycle.close());
    const admin = await adminOf(config.databaseUrl!);
    await admin.query('BEGIN');
    await admin.query('SELECT id FROM schedules WHERE id = $1 FOR UPDATE', [schedule.id]);
    const started = Date.now();
    await assert.rejects(slow.schedules.updateSchedule(schedule.userId, schedule.id, (c) => ({ ...c, name: 'x' })), (error) => {
      isUnavailable(error);
      assert.equal(((error as Error).cause as { code?: string }).code, '57014');
      return true;
    });
    assert.ok(Date.now() - started < 5000);
    await admin.query('ROLLBACK');
    assert.equal((await slow.schedules.updateSchedule(schedule.userId, schedule.id, (c) => ({ ...c, name: 'y' }))).status, 'updated');
  });

  it('holds one connection for the writes waiting on one schedule, leaving the rest of the pool to others', async () => {
    const db = await createThrowawayDatabase();
    cleanups.push(() => db.drop());
    const config: StorageConfig = { driver: 'postgres', sqlitePath: '', databaseUrl: db.url, poolSize: 3 };
    const storage = new TypeOrmStorage(await new DataSource(dataSourceOptions(config)).initialize());
    cleanups.push(() => storage.lifecycle.close());
    const busy = aSchedule({ userId: 'tenant-a', stateful: true });
    const other = aSchedule({ userId: 'tenant-b' });
    await storage.schedules.createSchedule(busy);
    await storage.schedules.createSchedule(other);
    const admin = await adminOf(db.url);
    await admin.query('BEGIN');
    await admin.query('SELECT id FROM schedules WHERE id = $1 FOR UPDATE', [busy.id]);
    const fires = Array.from({ length: 10 }, (_, i) => fireWrite(busy, new Date(Date.UTC(2026, 0, 1, 0, 0, i))));
    const pending = [
      ...fires.map((fire) => storage.firing.recordFire(fire)),
      storage.schedules.updateSchedule(busy.userId, busy.id, (c) => ({ ...c, name: 'renamed' })),
    ];
    const name = new URL(db.url).pathname.slice(1);
    await waiterOn(admin, name);
    // Another tenant's reads and writes go through at once, though the pool has 3 connections.
    const started = Date.now();
    assert.deepEqual(await storage.schedules.getSchedule(other.userId, other.id), other);
    assert.equal((await storage.schedules.updateSchedule(other.userId, other.id, (c) => ({ ...c, name: 'b' }))).status, 'updated');
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`, [name]);
    assert.equal(rows[0].n, 1);
    await admin.query('ROLLBACK');
    await Promise.all(pending);
    const session = (await storedSession(storage.history, busy, statefulSessionId(busy.id)))!;
    assert.deepEqual(session.state.context.map((m) => m.id).sort(), fires.map((f) => f.message.id).sort());
    assert.equal((await storage.schedules.getSchedule(busy.userId, busy.id))!.name, 'renamed');
  });

  it('releases a waiting run that a fire holding the schedule wrote while the active run ended', async () => {
    const { storage, config } = await BACKENDS[1].open();
    const schedule = aSchedule({ overlapPolicy: 'buffer_one', runTimeoutSeconds: 60 });
    await storage.schedules.createSchedule(schedule);
    const firedAt = new Date(Date.UTC(2026, 0, 1));
    const active = await storage.firing.recordFire(fireWrite(schedule, firedAt, 'manual', firedAt, true));
    assert.equal(active.status, 'fired');
    // A fire of the schedule, mid-transaction: it holds the row and has seen the active run.
    const admin = await adminOf(config.databaseUrl!);
    await admin.query('BEGIN');
    await admin.query('SELECT id FROM schedules WHERE id = $1 FOR UPDATE', [schedule.id]);
    const endedAt = new Date(firedAt.getTime() + 1000);
    const report = storage.delivery.reportRunStatus(active.run.id, 'succeeded', null, endedAt);
    await waiterOn(admin, new URL(config.databaseUrl!).pathname.slice(1));
    // The fire writes its run as waiting, and commits: only then does the report end the active run.
    const waiting = fireWrite(schedule, new Date(firedAt.getTime() + 500), 'manual', new Date(firedAt.getTime() + 500), true);
    await admin.query(
      `INSERT INTO runs (id, schedule_id, user_id, session_id, trigger, scheduled_for, fired_at, status, error, finished_at, timeout_at)
       VALUES ($1, $2, $3, NULL, 'manual', $4, $4, 'pending', NULL, NULL, NULL)`,
      [waiting.run.id, schedule.id, schedule.userId, waiting.firedAt],
    );
    await admin.query(`INSERT INTO outbox (run_id, schedule_id, available_at, attempts, lease_until) VALUES ($1, $2, NULL, 0, NULL)`, [
      waiting.run.id,
      schedule.id,
    ]);
    await admin.query('COMMIT');
    assert.equal((await report).status, 'applied');
    const claimed = await storage.delivery.claimDeliveries(endedAt, 10, new Date(endedAt.getTime() + 1000));
    assert.deepEqual(claimed.map((d) => [d.run.id, d.run.timeoutAt]), [[waiting.run.id, new Date(endedAt.getTime() + 60_000)]]);
  });

  it('is unavailable when its connection is terminated mid-statement, and recovers at once', async () => {
    const { storage, config } = await BACKENDS[1].open();
    const schedule = aSchedule();
    await storage.schedules.createSchedule(schedule);
    const admin = await adminOf(config.databaseUrl!);
    await admin.query('BEGIN');
    await admin.query('SELECT id FROM schedules WHERE id = $1 FOR UPDATE', [schedule.id]);
    const update = storage.schedules.updateSchedule(schedule.userId, schedule.id, (c) => ({ ...c, name: 'x' }));
    const pid = await waiterOn(admin, new URL(config.databaseUrl!).pathname.slice(1));
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await assert.rejects(update, (error) => {
      isUnavailable(error);
      assert.equal(((error as Error).cause as { code?: string }).code, '57P01');
      return true;
    });
    await admin.query('ROLLBACK');
    assert.equal((await storage.schedules.updateSchedule(schedule.userId, schedule.id, (c) => ({ ...c, name: 'y' }))).status, 'updated');
  });
});

describe('postgres storages of several replicas', () => {
  const skip = postgresSkipReason();
  if (skip) {
    it.skip(`skipped: ${skip}`, () => undefined);
    return;
  }

  it('tell each other’s dispatchers when a write made entries deliverable, and not themselves', async () => {
    const db = await createThrowawayDatabase();
    cleanups.push(() => db.drop());
    const config: StorageConfig = { driver: 'postgres', sqlitePath: '', databaseUrl: db.url };
    const replica = async () => {
      const dataSource = await new DataSource(dataSourceOptions(config)).initialize();
      const storage = new TypeOrmStorage(dataSource);
      const notifications = new TypeOrmNotifications(dataSource, { databaseUrl: db.url }, storage.handOff);
      let heard = 0;
      let onHeard: () => void = () => undefined;
      const unsubscribe = notifications.outbox.subscribe(() => {
        heard++;
        onHeard();
      });
      cleanups.push(async () => {
        unsubscribe();
        await notifications.onApplicationShutdown();
        await dataSource.destroy();
      });
      return { storage, heard: () => heard, next: () => new Promise<void>((resolve) => (onHeard = resolve)) };
    };
    // One after the other: the first migrates the database.
    const a = await replica();
    const b = await replica();
    // The LISTEN connections are up once a notification sent now reaches both.
    const listening = async () => {
      for (;;) {
        const heard = Promise.all([a.next(), b.next()]);
        const admin = new pg.Client({ connectionString: db.url });
        await admin.connect();
        await admin.query(`SELECT pg_notify('outbox_ready', 'someone-else')`);
        await admin.end();
        if (await Promise.race([heard.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 200))])) return;
      }
    };
    await listening();
    const [heardA, heardB] = [a.heard(), b.heard()];

    const schedule = aSchedule({ overlapPolicy: 'allow' });
    await a.storage.schedules.createSchedule(schedule);
    const fromA = b.next();
    const at = new Date('2026-04-01T09:00:00.000Z');
    // No dispatcher attached to A: its fire is written deliverable, and the commit tells the others.
    await a.storage.firing.recordFire(fireWrite(schedule, at, 'manual', at, true));
    await fromA;
    const fromB = a.next();
    await b.storage.firing.recordFire(fireWrite(schedule, new Date(at.getTime() + 1), 'manual', new Date(at.getTime() + 1), true));
    await fromB;
    // Notifications reach each listener in commit order: had A heard its own, it would have heard two.
    assert.equal(a.heard() - heardA, 1);
    assert.equal(b.heard() - heardB, 1);
  });
});
