import sqlite3 from 'sqlite3';
import type { DataSourceOptions } from 'typeorm';
import type { StorageConfig } from '../../config/app-config.js';
import { POSTGRES, SQLITE, type SqlDialect } from './dialect.js';
import { runEntity } from './entities/run.entity.js';
import { scheduleEntity } from './entities/schedule.entity.js';
import { sessionEntity } from './entities/session.entity.js';
import { InitialSchemaPostgres1764300000000 } from './migrations/postgres/1764300000000-initial-schema.js';
import { SchedulerPostgres1764400000000 } from './migrations/postgres/1764400000000-scheduler.js';
import { ScheduleVersionPostgres1764600000000 } from './migrations/postgres/1764600000000-schedule-version.js';
import { InitialSchemaSqlite1764300000000 } from './migrations/sqlite/1764300000000-initial-schema.js';
import { SchedulerSqlite1764400000000 } from './migrations/sqlite/1764400000000-scheduler.js';
import { RunsIdNotNullSqlite1764500000000 } from './migrations/sqlite/1764500000000-runs-id-not-null.js';
import { ScheduleVersionSqlite1764600000000 } from './migrations/sqlite/1764600000000-schedule-version.js';

// Migrations are listed, not globbed, so the same list works from the sources (tests) and from dist/.
const MIGRATIONS = {
  postgres: [InitialSchemaPostgres1764300000000, SchedulerPostgres1764400000000, ScheduleVersionPostgres1764600000000],
  sqlite: [
    InitialSchemaSqlite1764300000000,
    SchedulerSqlite1764400000000,
    RunsIdNotNullSqlite1764500000000,
    ScheduleVersionSqlite1764600000000,
  ],
};

export function entitiesFor(dialect: SqlDialect) {
  return [scheduleEntity(dialect), sessionEntity(dialect), runEntity(dialect)];
}

/** The DataSource options for a SQL storage config: schema by migrations, run on start, never synchronize. */
export function dataSourceOptions(config: StorageConfig): DataSourceOptions {
  // Failed queries are not logged here: their errors reach the caller, which logs what matters.
  const common = { migrationsRun: true, synchronize: false, logging: ['warn', 'migration'] as ('warn' | 'migration')[] };
  switch (config.driver) {
    case 'postgres':
      return {
        ...common,
        type: 'postgres',
        url: config.databaseUrl,
        entities: entitiesFor(POSTGRES),
        migrations: MIGRATIONS.postgres,
      };
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
