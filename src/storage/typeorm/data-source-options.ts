import { Logger } from '@nestjs/common';
import pg from 'pg';
import sqlite3 from 'sqlite3';
import type { DataSourceOptions } from 'typeorm';
import { DEFAULT_STORAGE_LIMITS, type StorageConfig } from '../../config/app-config.js';
import { LogThrottle, suppressedSuffix } from '../../common/log-throttle.js';
import { POSTGRES, SQLITE, type SqlDialect } from './dialect.js';
import { GuardedClient, POSTGRES_DRIVER } from './postgres-driver.js';
import { dispatchAttemptEntity } from './entities/dispatch-attempt.entity.js';
import { outboxEntity } from './entities/outbox.entity.js';
import { scheduleEventEntity } from './entities/schedule-event.entity.js';
import { idempotencyKeyEntity } from './entities/idempotency-key.entity.js';
import { runEntity } from './entities/run.entity.js';
import { scheduleEntity } from './entities/schedule.entity.js';
import { sessionMessageEntity } from './entities/session-message.entity.js';
import { sessionEntity } from './entities/session.entity.js';
import { InitialSchemaPostgres1764300000000 } from './migrations/postgres/1764300000000-initial-schema.js';
import { SchedulerPostgres1764400000000 } from './migrations/postgres/1764400000000-scheduler.js';
import { ScheduleVersionPostgres1764600000000 } from './migrations/postgres/1764600000000-schedule-version.js';
import { DispatchPostgres1764700000000 } from './migrations/postgres/1764700000000-dispatch.js';
import { SessionDocumentsAsJsonPostgres1764800000000 } from './migrations/postgres/1764800000000-session-documents-as-json.js';
import { SessionMessagesPostgres1764900000000 } from './migrations/postgres/1764900000000-session-messages.js';
import { OutboxVacuumPostgres1765000000000 } from './migrations/postgres/1765000000000-outbox-vacuum.js';
import { RunUsagePostgres1765100000000 } from './migrations/postgres/1765100000000-run-usage.js';
import { SchedulePausePostgres1765200000000 } from './migrations/postgres/1765200000000-schedule-pause.js';
import { ScheduleMaxRunsPostgres1765300000000 } from './migrations/postgres/1765300000000-schedule-max-runs.js';
import { ScheduleBudgetPostgres1765400000000 } from './migrations/postgres/1765400000000-schedule-budget.js';
import { ScheduleFleetPostgres1765500000000 } from './migrations/postgres/1765500000000-schedule-fleet.js';
import { RunControlPostgres1765600000000 } from './migrations/postgres/1765600000000-run-control.js';
import { InitialSchemaSqlite1764300000000 } from './migrations/sqlite/1764300000000-initial-schema.js';
import { SchedulerSqlite1764400000000 } from './migrations/sqlite/1764400000000-scheduler.js';
import { RunsIdNotNullSqlite1764500000000 } from './migrations/sqlite/1764500000000-runs-id-not-null.js';
import { ScheduleVersionSqlite1764600000000 } from './migrations/sqlite/1764600000000-schedule-version.js';
import { DispatchSqlite1764700000000 } from './migrations/sqlite/1764700000000-dispatch.js';
import { SessionMessagesSqlite1764900000000 } from './migrations/sqlite/1764900000000-session-messages.js';
import { RunUsageSqlite1765100000000 } from './migrations/sqlite/1765100000000-run-usage.js';
import { SchedulePauseSqlite1765200000000 } from './migrations/sqlite/1765200000000-schedule-pause.js';
import { ScheduleMaxRunsSqlite1765300000000 } from './migrations/sqlite/1765300000000-schedule-max-runs.js';
import { ScheduleBudgetSqlite1765400000000 } from './migrations/sqlite/1765400000000-schedule-budget.js';
import { ScheduleFleetSqlite1765500000000 } from './migrations/sqlite/1765500000000-schedule-fleet.js';
import { RunControlSqlite1765600000000 } from './migrations/sqlite/1765600000000-run-control.js';

// Migrations are listed, not globbed, so the same list works from the sources (tests) and from dist/.
const MIGRATIONS = {
  postgres: [
    InitialSchemaPostgres1764300000000,
    SchedulerPostgres1764400000000,
    ScheduleVersionPostgres1764600000000,
    DispatchPostgres1764700000000,
    SessionDocumentsAsJsonPostgres1764800000000,
    SessionMessagesPostgres1764900000000,
    OutboxVacuumPostgres1765000000000,
    RunUsagePostgres1765100000000,
    SchedulePausePostgres1765200000000,
    ScheduleMaxRunsPostgres1765300000000,
    ScheduleBudgetPostgres1765400000000,
    ScheduleFleetPostgres1765500000000,
    RunControlPostgres1765600000000,
  ],
  sqlite: [
    InitialSchemaSqlite1764300000000,
    SchedulerSqlite1764400000000,
    RunsIdNotNullSqlite1764500000000,
    ScheduleVersionSqlite1764600000000,
    DispatchSqlite1764700000000,
    SessionMessagesSqlite1764900000000,
    RunUsageSqlite1765100000000,
    SchedulePauseSqlite1765200000000,
    ScheduleMaxRunsSqlite1765300000000,
    ScheduleBudgetSqlite1765400000000,
    ScheduleFleetSqlite1765500000000,
    RunControlSqlite1765600000000,
  ],
};

/**
 * How much longer than `statement_timeout` a statement's answer is waited for: past it, the
 * server has not even said it cancelled the statement (the network went quiet), and the
 * connection is given up (GuardedClient).
 */
export const ANSWER_GRACE_MS = 1000;

function throttledPoolErrorLog(): (error: Error) => void {
  const logger = new Logger('PostgresPool');
  const throttle = new LogThrottle();
  return (error) =>
    throttle.run('pool-error', (suppressed) =>
      logger.warn(`An idle database connection failed and was dropped: ${error.message}${suppressedSuffix(suppressed)}`),
    );
}

/** PostgreSQL's type id of `json` (pg_type.oid). */
const JSON_TYPE_OID = 114;

/**
 * node-postgres's type parsers, but `json` values (the sessions' config and state, the only `json`
 * columns) arrive as the text they are stored as: the sessions page sends that text on without
 * parsing it, and the session entity's transformer parses it where an object is needed. `jsonb`
 * and everything else parse as usual.
 */
const DOCUMENTS_AS_TEXT = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === JSON_TYPE_OID && format !== 'binary' ? (text: string) => text : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

export function entitiesFor(dialect: SqlDialect) {
  return [
    scheduleEntity(dialect),
    sessionEntity(dialect),
    sessionMessageEntity(dialect),
    runEntity(dialect),
    outboxEntity(dialect),
    scheduleEventEntity(dialect),
    idempotencyKeyEntity(dialect),
    dispatchAttemptEntity(dialect),
  ];
}

/**
 * The DataSource options for a SQL storage config: schema by migrations, run on start, never
 * synchronize. `forMigrations`: no bound on how long a statement's answer is waited for, since a
 * migration's backfill lifts statement_timeout (openDataSource runs them on a DataSource of their own).
 */
export function dataSourceOptions(config: StorageConfig, { forMigrations = false } = {}): DataSourceOptions {
  // Failed queries are not logged here: their errors reach the caller, which logs what matters.
  const common = { migrationsRun: true, synchronize: false, logging: ['warn', 'migration'] as ('warn' | 'migration')[] };
  switch (config.driver) {
    case 'postgres': {
      const statementTimeoutMs = config.statementTimeoutMs ?? DEFAULT_STORAGE_LIMITS.statementTimeoutMs;
      return {
        ...common,
        type: 'postgres',
        url: config.databaseUrl,
        entities: entitiesFor(POSTGRES),
        migrations: MIGRATIONS.postgres,
        // node-postgres, but every failure to get a connection is NoDatabaseSession (503).
        driver: POSTGRES_DRIVER,
        extra: {
          // The most connections this process holds (node-postgres's Pool `max`).
          max: config.poolSize ?? DEFAULT_STORAGE_LIMITS.poolSize,
          // Waiting for a connection (a free one from the pool, or a new one) fails after this,
          // as StorageUnavailable (503), instead of queueing a request without end.
          connectionTimeoutMillis: config.connectTimeoutMs ?? DEFAULT_STORAGE_LIMITS.connectTimeoutMs,
          // The server cancels a statement that runs longer (a lock wait included), so that one
          // slow write cannot hold a connection, and everyone queued behind it, for long. The
          // migrations run under it too: one that needs longer starts with SET LOCAL statement_timeout = 0.
          statement_timeout: statementTimeoutMs,
          // A server that does not even answer that it cancelled (a network partition): the
          // client gives up on the statement and its connection (GuardedClient).
          query_timeout: forMigrations ? undefined : statementTimeoutMs + ANSWER_GRACE_MS,
          // The server ends a transaction left open by a client it no longer hears (the client
          // gave up on its connection across a partition), releasing its row locks.
          idle_in_transaction_session_timeout: statementTimeoutMs,
          keepAlive: true,
          Client: GuardedClient,
          types: DOCUMENTS_AS_TEXT,
        },
        // An idle connection the server closed (restart, failover, pg_terminate_backend): the pool
        // drops it and opens another when needed; say so without a line per connection.
        poolErrorHandler: throttledPoolErrorLog(),
      };
    }
    case 'sqlite':
      return {
        ...common,
        type: 'sqlite',
        database: config.sqlitePath,
        // WAL keeps readers off the writer's back; the busy timeout rides out another process's write.
        enableWAL: config.sqlitePath !== ':memory:',
        busyTimeout: 5000,
        // TypeORM calls sqlite3.verbose(), which captures a stack trace on every query; this
        // hands it the module as it is (query errors still carry the SQL).
        driver: { verbose: () => sqlite3 },
        entities: entitiesFor(SQLITE),
        migrations: MIGRATIONS.sqlite,
      };
    default:
      throw new Error(`Storage driver "${config.driver}" is not a SQL driver`);
  }
}
