import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DataSource } from 'typeorm';
import type { StorageConfig } from '../../config/app-config.js';
import { dataSourceOptions } from './data-source-options.js';

/** The wait before the first retry at start-up; it doubles with each. */
const FIRST_RETRY_DELAY_MS = 1000;

const UNREACHABLE = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|the database system is starting up|timeout/i;

/**
 * Opens the SQL storage's DataSource (running the migrations, unless `migrateOnStart` is false),
 * retrying a database that is not reachable yet a bounded number of times with one log line each;
 * any other failure, or the last attempt's, is thrown for main.ts to report.
 */
export async function openDataSource(config: StorageConfig): Promise<DataSource> {
  return withRetries(config, () => initialize(config));
}

/**
 * Runs the migrations not applied yet, on a DataSource of its own closed once done, with the same
 * retries as openDataSource; resolves with the names of those it applied, in order. The deploy
 * step of a service started with DATABASE_MIGRATE_ON_START=false (migrate.ts).
 */
export async function migrateDatabase(config: StorageConfig): Promise<string[]> {
  return withRetries(config, async () => {
    const dataSource = await new DataSource({ ...dataSourceOptions(config, { forMigrations: true }), migrationsRun: false, logging: ['warn'] }).initialize();
    try {
      return (await dataSource.runMigrations()).map((migration) => migration.name);
    } finally {
      await dataSource.destroy();
    }
  });
}

/** Checks SQLite's path and creates its folders, then tries `open` as many times as the config allows. */
async function withRetries<T>(config: StorageConfig, open: () => Promise<T>): Promise<T> {
  const attempts = config.connectAttempts ?? 1;
  if (config.driver === 'sqlite' && config.sqlitePath !== ':memory:') {
    assertUsableSqlitePath(config.sqlitePath);
    createParentFolders(config.sqlitePath);
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return await open();
    } catch (error) {
      const message = (error as Error).message;
      if (attempt >= attempts || !UNREACHABLE.test(`${(error as NodeJS.ErrnoException).code ?? ''} ${message}`)) {
        throw error;
      }
      const delay = FIRST_RETRY_DELAY_MS * 2 ** (attempt - 1);
      // Not Nest's logger: start-up buffers its lines until the service listens, and these must show now.
      console.warn(`The database is not reachable (attempt ${attempt} of ${attempts}: ${message}); retrying in ${delay} ms`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * On PostgreSQL the migrations run first on a DataSource of their own, closed once done: the
 * serving pool gives up on a statement unanswered past statement_timeout, and a migration's
 * backfill lifts statement_timeout. (SQLite's `:memory:` database is its one connection's.)
 */
async function initialize(config: StorageConfig): Promise<DataSource> {
  const migrate = config.migrateOnStart ?? true;
  if (config.driver !== 'postgres') return new DataSource({ ...dataSourceOptions(config), migrationsRun: migrate }).initialize();
  if (migrate) {
    const migrating = await new DataSource(dataSourceOptions(config, { forMigrations: true })).initialize();
    await migrating.destroy();
  }
  return new DataSource({ ...dataSourceOptions(config), migrationsRun: false }).initialize();
}

/** A path that exists must be a regular file: SQLite would block on a FIFO and fail on a folder. */
function assertUsableSqlitePath(path: string): void {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (stat && !stat.isFile()) {
    throw Object.assign(new Error(`${path} exists and is not a regular file`), { code: 'SQLITE_CANTOPEN' });
  }
}

/**
 * Creates the folders missing above `path`, one level at a time. TypeORM would create them with
 * Node's recursive mkdir, which spins forever on some impossible paths (`/proc/nope/x.db`); a
 * plain mkdir fails at once there, with the errno (ENOENT, EACCES, ENOTDIR, EROFS) main.ts reports.
 */
export function createParentFolders(path: string): void {
  const missing: string[] = [];
  for (let folder = dirname(resolve(path)); !statSync(folder, { throwIfNoEntry: false }); folder = dirname(folder)) {
    missing.push(folder);
  }
  for (const folder of missing.reverse()) {
    try {
      mkdirSync(folder);
    } catch (error) {
      // Another process may have just created it; anything else stands.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(folder).isDirectory()) throw error;
    }
  }
}
