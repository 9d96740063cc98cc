import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { DataSource, type DataSourceOptions, type MigrationInterface } from 'typeorm';
import type { StorageConfig } from '../../config/app-config.js';
import { fireWrite, unfiredRun } from '../../domain/fire.js';
import type { Run } from '../../domain/run.js';
import type { Schedule } from '../../domain/schedule.js';
import { EMPTY_STATS } from '../../domain/schedule-stats.js';
import type { Session } from '../../domain/session.js';
import { dataSourceOptions } from './data-source-options.js';
import { dialectNamed, type SqlDialectName } from './dialect.js';
import { toRunRow, toScheduleRow, toSessionRow } from './entities/row.mapper.js';
import type { RunRow } from './entities/run.entity.js';
import type { ScheduleRow } from './entities/schedule.entity.js';
import { TypeOrmStorage } from './typeorm.storage.js';
import { aSchedule } from '../../../test/support/builders.js';
import { createThrowawayDatabase, postgresSkipReason } from '../../../test/support/postgres.js';
import { storedSession } from '../../../test/support/stored-sessions.js';

/*
 * The entity declarations and the hand-written migrations describe the same schema twice; these
 * tests keep them from drifting apart. Per dialect, the migrations run on an empty database and
 * TypeORM is asked what `synchronize` would change to make it match the entities: nothing.
 *
 * TypeORM's diff compares tables, columns (type, length, nullability, default, primary key,
 * collation on PostgreSQL) and which indexes exist, are unique and over which columns, but not an
 * index's column order nor its WHERE clause. Those are checked against a second database that
 * TypeORM synchronized from the entities: each declared index must read back the same from both.
 *
 * When a test fails it prints what differs. Fix the entity if it misdescribes the database; if the
 * schema must change, add a migration (never edit one that has run somewhere).
 */

interface EmptyDatabase {
  config: StorageConfig;
  dispose(): Promise<void>;
}

interface SchemaDialect {
  name: SqlDialectName;
  skipReason?: string;
  emptyDatabase(): Promise<EmptyDatabase>;
  /** The SQL that creates `index`, as the database reports it (runnable), or undefined without one. */
  indexSql(dataSource: DataSource, index: string): Promise<string | undefined>;
  /** Irrelevant differences out of `indexSql`'s text, so that two definitions compare. */
  normalizeIndexSql(sql: string): string;
}

const SQLITE: SchemaDialect = {
  name: 'sqlite',
  async emptyDatabase() {
    const dir = mkdtempSync(join(tmpdir(), 'schedules-schema-'));
    return {
      config: { driver: 'sqlite', sqlitePath: join(dir, 'schema.sqlite') },
      dispose: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
  async indexSql(dataSource, index) {
    const rows: { sql: string }[] = await dataSource.query(
      `SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`,
      [index],
    );
    return rows[0]?.sql;
  },
  // SQLite keeps the statement's text as written: TypeORM quotes names, the migrations do not.
  normalizeIndexSql: (sql) => sql.replaceAll('"', '').replace(/\s+/g, ' ').trim(),
};

const POSTGRES: SchemaDialect = {
  name: 'postgres',
  skipReason: postgresSkipReason(),
  async emptyDatabase() {
    const db = await createThrowawayDatabase();
    return { config: { driver: 'postgres', sqlitePath: '', databaseUrl: db.url }, dispose: () => db.drop() };
  },
  async indexSql(dataSource, index) {
    const rows: { indexdef: string }[] = await dataSource.query(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1`,
      [index],
    );
    return rows[0]?.indexdef;
  },
  // PostgreSQL prints a definition in its own canonical form.
  normalizeIndexSql: (sql) => sql,
};

/** The statements `synchronize` would run on `dataSource` to match its entities. */
async function pendingSchemaChanges(dataSource: DataSource): Promise<string[]> {
  const sql = await dataSource.driver.createSchemaBuilder().log();
  return sql.upQueries.map((query) => query.query);
}

function describeSchema(dialect: SchemaDialect): void {
  describe(`${dialect.name} schema`, () => {
    if (dialect.skipReason) {
      it.skip(`skipped: ${dialect.skipReason}`, () => undefined);
      return;
    }
    const databases: EmptyDatabase[] = [];
    const dataSources: DataSource[] = [];
    /** Schema by the migrations, as in production. */
    let migrated: DataSource;
    /** Schema by TypeORM from the entities, for what its diff does not compare. */
    let synchronized: DataSource;

    async function open(override: { migrationsRun: boolean; synchronize: boolean }): Promise<DataSource> {
      const database = await dialect.emptyDatabase();
      databases.push(database);
      const dataSource = new DataSource({ ...dataSourceOptions(database.config), ...override });
      dataSources.push(dataSource);
      return dataSource.initialize();
    }

    /** Each index the entities declare, by name, as `dataSource` has it. */
    async function declaredIndexes(dataSource: DataSource): Promise<Record<string, string | undefined>> {
      const names = dataSource.entityMetadatas.flatMap((entity) => entity.indices.map((index) => index.name));
      const indexes: Record<string, string | undefined> = {};
      for (const name of names.sort()) {
        const sql = await dialect.indexSql(dataSource, name);
        indexes[name] = sql === undefined ? undefined : dialect.normalizeIndexSql(sql);
      }
      return indexes;
    }

    /** Runs `change` on the migrated schema, then puts index `index` back as the migrations made it. */
    async function withIndexChanged(index: string, change: () => Promise<void>): Promise<void> {
      const original = await dialect.indexSql(migrated, index);
      assert.ok(original, `the migrations create no index ${index}`);
      try {
        await change();
      } finally {
        await migrated.query(`DROP INDEX IF EXISTS ${index}`);
        await migrated.query(original);
      }
    }

    beforeAll(async () => {
      migrated = await open({ migrationsRun: true, synchronize: false });
      synchronized = await open({ migrationsRun: false, synchronize: true });
    });
    afterAll(async () => {
      for (const dataSource of dataSources) if (dataSource.isInitialized) await dataSource.destroy();
      for (const database of databases) await database.dispose();
    });

    it('the migrations leave TypeORM nothing to synchronize', async () => {
      const pending = await pendingSchemaChanges(migrated);
      assert.deepEqual(
        pending,
        [],
        `the entities and the ${dialect.name} migrations disagree; synchronize would run:\n${pending.join(';\n')}`,
      );
    });

    it('the migrations create every declared index with its column order and WHERE clause', async () => {
      const declared = await declaredIndexes(synchronized);
      assert.ok(Object.keys(declared).length > 0);
      assert.deepEqual(await declaredIndexes(migrated), declared, 'indexes: the migrations (actual) vs the entities');
    });

    if (dialect.name === 'postgres') {
      it('vacuums the outbox, a queue, every thousand dead rows rather than at a fifth of the table', async () => {
        const [{ reloptions }] = await migrated.query(`SELECT reloptions FROM pg_class WHERE relname = 'outbox'`);
        assert.deepEqual([...reloptions].sort(), [
          'autovacuum_vacuum_cost_delay=0',
          'autovacuum_vacuum_scale_factor=0',
          'autovacuum_vacuum_threshold=1000',
        ]);
      });
    }

    // The checks above are only worth something if they can fail: make the schema drift, then undo it.

    it('notices a missing index or an extra column', async () => {
      await withIndexChanged('runs_schedule_slot_uq', async () => {
        await migrated.query(`DROP INDEX runs_schedule_slot_uq`);
        const pending = await pendingSchemaChanges(migrated);
        assert.ok(
          pending.some((query) => /^CREATE UNIQUE INDEX "runs_schedule_slot_uq" ON "runs"/.test(query)),
          `expected synchronize to re-create runs_schedule_slot_uq; it would run:\n${pending.join(';\n')}`,
        );
      });
      await migrated.query(`ALTER TABLE runs ADD COLUMN drift_probe integer NULL`);
      try {
        assert.notDeepEqual(await pendingSchemaChanges(migrated), [], 'expected synchronize to drop runs.drift_probe');
      } finally {
        await migrated.query(`ALTER TABLE runs DROP COLUMN drift_probe`);
      }
      assert.deepEqual(await pendingSchemaChanges(migrated), []);
    });

    it('notices an index over other columns or without its WHERE clause', async () => {
      for (const drifted of [
        `CREATE UNIQUE INDEX runs_schedule_slot_uq ON runs (scheduled_for, schedule_id) WHERE trigger <> 'manual'`,
        `CREATE UNIQUE INDEX runs_schedule_slot_uq ON runs (schedule_id, scheduled_for)`,
      ]) {
        await withIndexChanged('runs_schedule_slot_uq', async () => {
          await migrated.query(`DROP INDEX runs_schedule_slot_uq`);
          await migrated.query(drifted);
          assert.notDeepEqual(await declaredIndexes(migrated), await declaredIndexes(synchronized), drifted);
        });
      }
      assert.deepEqual(await declaredIndexes(migrated), await declaredIndexes(synchronized));
    });
  });
}

/** Inserts `row` (column → value) as a statement of the dialect's own, whatever the entities say. */
async function insertRow(dataSource: DataSource, dialect: SqlDialectName, table: string, row: object): Promise<void> {
  const sql = dialectNamed(dialect);
  const entries = Object.entries(row);
  const slots = entries.map((_, i) => sql.placeholder(i + 1));
  await dataSource.query(
    `INSERT INTO ${table} (${entries.map(([column]) => column).join(', ')}) VALUES (${slots.join(', ')})`,
    entries.map(([, value]) => sql.param(value)),
  );
}

/** Undoes the migrations applied to `dataSource`, the last first, down to and including the one named `name`. */
async function undoThrough(dataSource: DataSource, name: string): Promise<void> {
  const applied = async () => Array.from((await dataSource.query('SELECT name FROM migrations')) as Array<{ name: string }>, (m) => m.name);
  assert.ok((await applied()).includes(name), `${name} is applied`);
  while ((await applied()).includes(name)) await dataSource.undoLastMigration();
}

/** Whether `table` exists in the database. */
async function hasTable(dataSource: DataSource, table: string): Promise<boolean> {
  return dataSource.createQueryRunner().hasTable(table);
}

/*
 * Databases that already hold data migrate forward: each migration is applied to a database the
 * migrations before it made and filled, as an upgrade would; and it can be undone.
 */
function describeUpgrades(dialect: SchemaDialect): void {
  describe(`${dialect.name} upgrades`, () => {
    if (dialect.skipReason) {
      it.skip(`skipped: ${dialect.skipReason}`, () => undefined);
      return;
    }
    const cleanups: Array<() => Promise<void>> = [];
    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    /**
     * A DataSource on `config` that has run the migrations up to (not including) the one named
     * `before`, or through the one named `through`, or all.
     */
    async function migratedUpTo(config: StorageConfig, { before, through }: { before?: string; through?: string } = {}): Promise<DataSource> {
      const options = dataSourceOptions(config);
      const all = options.migrations as Array<new () => MigrationInterface>;
      const at = (name: string) => all.findIndex((m) => new m().name === name);
      const upTo = before ? all.slice(0, at(before)) : through ? all.slice(0, at(through) + 1) : all;
      assert.ok(upTo.length > 0 && upTo.length <= all.length);
      const dataSource = await new DataSource({ ...options, migrations: upTo } as DataSourceOptions).initialize();
      cleanups.push(async () => {
        if (dataSource.isInitialized) await dataSource.destroy();
      });
      return dataSource;
    }

    it('gives existing schedules and runs what dispatch needs, and undoes it', async () => {
      const database = await dialect.emptyDatabase();
      cleanups.push(() => database.dispose());
      const dispatch = dialect.name === 'postgres' ? 'DispatchPostgres1764700000000' : 'DispatchSqlite1764700000000';
      const before = await migratedUpTo(database.config, { before: dispatch });

      const schedule = aSchedule({ userId: 'upgraded', lastRunAt: new Date('2026-03-02T09:00:00.000Z') });
      const { overlap_policy, run_timeout_seconds, history_limit, ...scheduleRow } = scheduleRowBeforePause(schedule);
      await insertRow(before, dialect.name, 'schedules', scheduleRow);
      const run = (status: Run['status'], at: string): Run => ({
        id: `run-${status}`,
        scheduleId: schedule.id,
        userId: schedule.userId,
        sessionId: status === 'succeeded' ? 'session-1' : null,
        trigger: 'cron',
        scheduledFor: new Date(at),
        firedAt: status === 'succeeded' ? new Date(at) : null,
        status,
        error: status === 'missed' ? 'missed' : null,
        skipReason: null,
        finishedAt: null,
        timeoutAt: null,
        usage: null,
        overrides: null,
        replayOf: null,
        gaveUp: false,
      });
      const runs = [run('succeeded', '2026-03-02T09:00:00.123Z'), run('missed', '2026-03-01T09:00:00.000Z')];
      for (const r of runs) {
        const { finished_at, timeout_at, usage_input_tokens, usage_output_tokens, usage_cost_usd, ...runRow } = runRowBeforeBudget(r);
        await insertRow(before, dialect.name, 'runs', runRow);
      }
      await before.destroy();

      // Every migration from dispatch's on: the storage reads the schema as it is today, with the
      // schedule's one fired run counted.
      const after = await migratedUpTo(database.config);
      // Its stats counted from its runs (the last success and failure are not known).
      const upgraded = { ...schedule, fireCount: 1, stats: { ...EMPTY_STATS, succeeded: 1, missed: 1 } };
      const storage = new TypeOrmStorage(after);
      assert.equal(await hasTable(after, 'outbox'), true);
      assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), upgraded);
      assert.deepEqual(await storage.history.listRunsBySchedule(schedule.userId, schedule.id), [
        { ...runs[0], finishedAt: runs[0].firedAt },
        runs[1],
      ]);

      await undoThrough(after, dispatch);
      assert.equal(await hasTable(after, 'outbox'), false);
      assert.equal(await hasTable(after, 'dispatch_attempts'), false);
      await assert.rejects(after.query('SELECT finished_at FROM runs'));
      await assert.rejects(after.query('SELECT overlap_policy FROM schedules'));
      await after.runMigrations();
      assert.equal(await hasTable(after, 'outbox'), true);
      assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), upgraded);
    });

    if (dialect.name === 'postgres') {
      it("keeps existing sessions' documents, as json text, and undoes it", async () => {
        const database = await dialect.emptyDatabase();
        cleanups.push(() => database.dispose());
        const asJson = 'SessionDocumentsAsJsonPostgres1764800000000';
        const before = await migratedUpTo(database.config, { before: asJson });
        const schedule = aSchedule({ userId: 'upgraded' });
        await insertRow(before, dialect.name, 'schedules', scheduleRowBeforePause(schedule));
        const { session } = fireWrite(schedule, new Date('2026-03-02T09:00:00.000Z'));
        await insertRow(before, dialect.name, 'sessions', sessionRowBeforeMessages(session));
        await before.destroy();

        const columnTypes = async (dataSource: DataSource) =>
          (
            await dataSource.query(
              `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'sessions' AND column_name IN ('config', 'state') ORDER BY column_name`,
            )
          ).map((c: { column_name: string; data_type: string }) => `${c.column_name} ${c.data_type}`);
        const after = await migratedUpTo(database.config);
        const storage = new TypeOrmStorage(after);
        assert.deepEqual(await columnTypes(after), ['config json', 'state json']);
        assert.deepEqual(await storedSession(storage.history, schedule, session.id), session);
        const [stored] = (await storage.history.pageSessionsJson(session.userId, schedule.id, null))!.items;
        assert.deepEqual([JSON.parse(String(stored.configJson)), JSON.parse(String(stored.stateJson))], [session.config, session.state]);

        // Undone down to it (later migrations first), then up again.
        await undoThrough(after, asJson);
        assert.deepEqual(await columnTypes(after), ['config jsonb', 'state jsonb']);
        await after.runMigrations();
        assert.deepEqual(await storedSession(storage.history, schedule, session.id), session);
      });
    }

    it('gives schedules disabled before the pause reasons the user\'s reason, and every schedule a failure count of zero; and undoes it', async () => {
      const database = await dialect.emptyDatabase();
      cleanups.push(() => database.dispose());
      const pause = dialect.name === 'postgres' ? 'SchedulePausePostgres1765200000000' : 'SchedulePauseSqlite1765200000000';
      const before = await migratedUpTo(database.config, { before: pause });
      const enabled = aSchedule({ userId: 'upgraded' });
      const disabled = aSchedule({ userId: 'upgraded', enabled: false });
      for (const schedule of [enabled, disabled]) await insertRow(before, dialect.name, 'schedules', scheduleRowBeforePause(schedule));
      await before.destroy();

      const after = await migratedUpTo(database.config);
      const storage = new TypeOrmStorage(after);
      assert.deepEqual(await storage.schedules.getSchedule('upgraded', enabled.id), enabled);
      assert.deepEqual(await storage.schedules.getSchedule('upgraded', disabled.id), { ...disabled, pausedReason: 'user' });
      await undoThrough(after, pause);
      await assert.rejects(after.query('SELECT consecutive_failures FROM schedules'));
      await after.runMigrations();
      assert.deepEqual(await storage.schedules.getSchedule('upgraded', disabled.id), { ...disabled, pausedReason: 'user' });
    });

    it('counts the fires of existing schedules from their runs (fired ones only), with no max_runs; and undoes it', async () => {
      const database = await dialect.emptyDatabase();
      cleanups.push(() => database.dispose());
      const maxRuns = dialect.name === 'postgres' ? 'ScheduleMaxRunsPostgres1765300000000' : 'ScheduleMaxRunsSqlite1765300000000';
      const before = await migratedUpTo(database.config, { before: maxRuns });
      const schedule = aSchedule({ userId: 'upgraded' });
      const { max_runs, fire_count, ...scheduleRow } = scheduleRowBeforeBudget(schedule);
      await insertRow(before, dialect.name, 'schedules', scheduleRow);
      const fired = [0, 1].map((i) => fireWrite(schedule, new Date(Date.UTC(2026, 2, 2, 9, i))).run);
      const missed = unfiredRun(schedule, new Date('2026-03-01T09:00:00.000Z'), 'missed', 'missed');
      for (const run of [...fired, missed]) await insertRow(before, dialect.name, 'runs', runRowBeforeBudget(run));
      await before.destroy();

      const after = await migratedUpTo(database.config);
      const storage = new TypeOrmStorage(after);
      const upgraded = { ...schedule, fireCount: 2, stats: { ...EMPTY_STATS, succeeded: 2, missed: 1 } };
      assert.deepEqual(await storage.schedules.getSchedule('upgraded', schedule.id), upgraded);
      await undoThrough(after, maxRuns);
      await assert.rejects(after.query('SELECT fire_count FROM schedules'));
      await after.runMigrations();
      assert.deepEqual(await storage.schedules.getSchedule('upgraded', schedule.id), upgraded);
    });

    it('counts the stats of existing schedules from their runs, marks their skipped runs as skipped for overlap, and gives them no budget; and undoes it', async () => {
      const database = await dialect.emptyDatabase();
      cleanups.push(() => database.dispose());
      const budget = dialect.name === 'postgres' ? 'ScheduleBudgetPostgres1765400000000' : 'ScheduleBudgetSqlite1765400000000';
      const before = await migratedUpTo(database.config, { before: budget });
      const schedule = aSchedule({ userId: 'upgraded' });
      await insertRow(before, dialect.name, 'schedules', scheduleRowBeforeBudget(schedule));
      const at = (minute: number) => new Date(Date.UTC(2026, 2, 2, 9, minute));
      const succeeded = fireWrite(schedule, at(0)).run;
      const failed = { ...fireWrite(schedule, at(1)).run, status: 'failed' as const, error: 'boom' };
      const timedOut = { ...fireWrite(schedule, at(2)).run, status: 'timed_out' as const, error: 'late' };
      const skipped = { ...unfiredRun(schedule, at(3), 'missed', 'busy'), status: 'skipped' as const };
      const missed = unfiredRun(schedule, at(4), 'missed', 'missed');
      for (const run of [succeeded, failed, timedOut, skipped, missed]) await insertRow(before, dialect.name, 'runs', runRowBeforeBudget(run));
      await before.destroy();

      const after = await migratedUpTo(database.config);
      const storage = new TypeOrmStorage(after);
      const upgraded = { ...schedule, stats: { ...EMPTY_STATS, succeeded: 1, failed: 1, timedOut: 1, skipped: 1, missed: 1 } };
      assert.deepEqual(await storage.schedules.getSchedule('upgraded', schedule.id), upgraded);
      const runs = await storage.history.listRunsBySchedule('upgraded', schedule.id);
      assert.deepEqual(
        runs.map((r) => [r.status, r.skipReason]),
        [['missed', null], ['skipped', 'overlap'], ['timed_out', null], ['failed', null], ['succeeded', null]],
      );
      await undoThrough(after, budget);
      await assert.rejects(after.query('SELECT stats FROM schedules'));
      await assert.rejects(after.query('SELECT skip_reason FROM runs'));
      await after.runMigrations();
      assert.deepEqual(await storage.schedules.getSchedule('upgraded', schedule.id), upgraded);
    });

    it('gives existing schedules no labels and no key, and undoes it', async () => {
      const database = await dialect.emptyDatabase();
      cleanups.push(() => database.dispose());
      const fleet = dialect.name === 'postgres' ? 'ScheduleFleetPostgres1765500000000' : 'ScheduleFleetSqlite1765500000000';
      const before = await migratedUpTo(database.config, { before: fleet });
      const schedule = aSchedule({ userId: 'upgraded' });
      await insertRow(before, dialect.name, 'schedules', scheduleRowBeforeFleet(schedule));
      await before.destroy();

      const after = await migratedUpTo(database.config);
      const storage = new TypeOrmStorage(after);
      assert.deepEqual(await storage.schedules.getSchedule('upgraded', schedule.id), schedule);
      await undoThrough(after, fleet);
      await assert.rejects(after.query('SELECT labels FROM schedules'));
      await assert.rejects(after.query('SELECT schedule_key FROM schedules'));
      await after.runMigrations();
      assert.deepEqual(await storage.schedules.getSchedule('upgraded', schedule.id), schedule);
    });

    it('gives existing runs no overrides, lets replays share a fire time, and undoes it', async () => {
      const database = await dialect.emptyDatabase();
      cleanups.push(() => database.dispose());
      const control = dialect.name === 'postgres' ? 'RunControlPostgres1765600000000' : 'RunControlSqlite1765600000000';
      const before = await migratedUpTo(database.config, { before: control });
      const schedule = aSchedule({ userId: 'upgraded' });
      const { skipped_fire_times, ...scheduleRow } = toScheduleRow(schedule);
      await insertRow(before, dialect.name, 'schedules', scheduleRow);
      const run = fireWrite(schedule, new Date('2026-03-02T09:00:00.000Z'), 'cron').run;
      const { overrides, replay_of, gave_up, ...oldRow } = toRunRow(run);
      await insertRow(before, dialect.name, 'runs', oldRow);
      await before.destroy();

      const after = await migratedUpTo(database.config);
      const storage = new TypeOrmStorage(after);
      assert.deepEqual(await storage.history.listRunsBySchedule('upgraded', schedule.id), [run]);
      // A replay at the cron run's instant takes no fire time; a second cron run there is refused.
      const replay = fireWrite(schedule, run.scheduledFor, 'replay', run.scheduledFor, false, { replayOf: run.id }).run;
      await insertRow(after, dialect.name, 'runs', toRunRow(replay));
      await assert.rejects(insertRow(after, dialect.name, 'runs', toRunRow({ ...run, id: 'another' })));
      await undoThrough(after, control);
      await assert.rejects(after.query('SELECT replay_of FROM runs'));
      assert.deepEqual(Array.from(await after.query(`SELECT trigger FROM runs WHERE id = '${replay.id}'`), (r: { trigger: string }) => r.trigger), ['manual']);
      await after.runMigrations();
      assert.deepEqual((await storage.history.listRunsBySchedule('upgraded', schedule.id)).map((r) => r.id).sort(), [run.id, replay.id].sort());
    });

    it("moves a stateful session's messages into rows of their own, where fires append, and undoes it", async () => {
      const database = await dialect.emptyDatabase();
      cleanups.push(() => database.dispose());
      const messages = dialect.name === 'postgres' ? 'SessionMessagesPostgres1764900000000' : 'SessionMessagesSqlite1764900000000';
      const before = await migratedUpTo(database.config, { before: messages });
      const schedule = aSchedule({ userId: 'upgraded', stateful: true });
      await insertRow(before, dialect.name, 'schedules', scheduleRowBeforePause(schedule));
      const fires = [0, 1, 2].map((i) => fireWrite(schedule, new Date(Date.UTC(2026, 2, 2, 9, i))));
      const stateful = structuredClone(fires[0].session);
      stateful.state.context = fires.map((f) => f.message);
      const plain = fireWrite({ ...schedule, stateful: false }, new Date('2026-03-01T09:00:00.000Z')).session;
      for (const session of [stateful, plain]) await insertRow(before, dialect.name, 'sessions', sessionRowBeforeMessages(session));
      await before.destroy();

      const after = await migratedUpTo(database.config);
      const storage = new TypeOrmStorage(after);
      await storage.lifecycle.ping();
      const rows = async () => Number((await after.query(`SELECT count(*) AS n FROM session_messages`))[0].n);
      assert.equal(await rows(), 3, 'the stateful session’s three messages, none of the other’s');
      assert.deepEqual(await storedSession(storage.history, schedule, stateful.id), stateful);
      assert.deepEqual(await storedSession(storage.history, schedule, plain.id), plain);
      const next = fireWrite(schedule, new Date(Date.UTC(2026, 2, 2, 9, 3)));
      await storage.firing.recordFire(next);
      const appended = (await storedSession(storage.history, schedule, stateful.id))!;
      assert.deepEqual(appended.state.context, [...stateful.state.context, next.message]);
      assert.equal(await rows(), 4);

      await undoThrough(after, messages);
      assert.equal(await hasTable(after, 'session_messages'), false);
      const [{ state }] = await after.query(`SELECT state FROM sessions WHERE id = ${dialectNamed(dialect.name).placeholder(1)}`, [stateful.id]);
      assert.deepEqual((typeof state === 'string' ? JSON.parse(state) : state).context, appended.state.context);
      await after.runMigrations();
      assert.deepEqual(await storedSession(storage.history, schedule, stateful.id), appended);
    });
  });
}

/** A schedule's row as the table was before the pause columns (and max_runs). */
function scheduleRowBeforePause(
  schedule: Schedule,
): Omit<
  ScheduleRow,
    | 'paused_reason' | 'pause_note' | 'pause_after_failures' | 'consecutive_failures' | 'max_runs' | 'fire_count' | 'budget' | 'budget_exhausted_until' | 'stats' | 'labels' | 'schedule_key' | 'fire_at' | 'every_seconds' | 'anchor_at' | 'jitter_seconds' | 'skipped_fire_times'
> {
  const { paused_reason, pause_note, pause_after_failures, consecutive_failures, max_runs, fire_count, ...row } = scheduleRowBeforeBudget(schedule);
  return row;
}

/** A schedule's row as the table was before budgets (no budget, budget_exhausted_until or stats, nor labels). */
function scheduleRowBeforeBudget(schedule: Schedule): Omit<ScheduleRow, 'budget' | 'budget_exhausted_until' | 'stats' | 'labels' | 'schedule_key' | 'fire_at' | 'every_seconds' | 'anchor_at' | 'jitter_seconds' | 'skipped_fire_times'> {
  const { budget, budget_exhausted_until, stats, ...row } = scheduleRowBeforeFleet(schedule);
  return row;
}

/** A schedule's row as the table was before labels. */
function scheduleRowBeforeFleet(
  schedule: Schedule,
): Omit<ScheduleRow, 'labels' | 'schedule_key' | 'fire_at' | 'every_seconds' | 'anchor_at' | 'jitter_seconds' | 'skipped_fire_times'> {
  const { labels, schedule_key, fire_at, every_seconds, anchor_at, jitter_seconds, skipped_fire_times, ...row } = toScheduleRow(schedule);
  return row;
}

/** A run's row as the table was before skip reasons (and overrides). */
function runRowBeforeBudget(run: Run): Omit<RunRow, 'skip_reason' | 'overrides' | 'replay_of' | 'gave_up'> {
  const { skip_reason, overrides, replay_of, gave_up, ...row } = toRunRow(run);
  return row;
}

/** A session's row as the tables were before the session messages (no context_… columns). */
function sessionRowBeforeMessages(session: Session): object {
  const { context_apart, context_messages, context_bytes, context_seq, ...row } = toSessionRow(session);
  return row;
}

describeSchema(SQLITE);
describeSchema(POSTGRES);
describeUpgrades(SQLITE);
describeUpgrades(POSTGRES);
