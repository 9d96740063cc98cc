import 'reflect-metadata';
import { InvalidConfigError, loadConfig, type StorageConfig } from './config/app-config.js';
import { migrateDatabase } from './storage/typeorm/open-data-source.js';

/*
 * The migrations as a deploy step (README "Deploy"): `node dist/src/migrate.js` (`npm run migrate`)
 * applies those not applied yet to the database the environment names, as the service would at
 * start, says which, and exits 0; on failure, one line naming the variable to look at, and 1.
 * Replicas then start with DATABASE_MIGRATE_ON_START=false.
 */

/** The database, without the credentials a URL may carry. */
function describeDatabase(storage: StorageConfig): string {
  if (storage.driver === 'sqlite') return `the SQLite database ${storage.sqlitePath}`;
  try {
    const url = new URL(storage.databaseUrl!);
    return `the PostgreSQL database ${decodeURIComponent(url.pathname.slice(1))} on ${url.host}`;
  } catch {
    return 'the PostgreSQL database';
  }
}

/** Why the migrations could not run, naming the variable to change. */
function migrationFailure(error: unknown, storage: StorageConfig): string {
  const e = error as NodeJS.ErrnoException;
  const message = e instanceof Error ? e.message : String(error);
  if (storage.driver === 'sqlite') {
    const reason = !e?.code || message.startsWith(`${e.code}:`) ? message : `${e.code}: ${message}`;
    return `SQLITE_PATH=${storage.sqlitePath}: the migrations could not be run (${reason})`;
  }
  return `DATABASE_URL: the migrations could not be run on PostgreSQL (${message})`;
}

async function main(): Promise<void> {
  let storage: StorageConfig;
  try {
    storage = loadConfig(process.env).storage;
  } catch (error) {
    if (!(error instanceof InvalidConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
  if (storage.driver === 'memory') {
    console.error('STORAGE_DRIVER=memory: there is no database to migrate (set STORAGE_DRIVER=sqlite or postgres)');
    process.exit(1);
  }
  let applied: string[];
  try {
    applied = await migrateDatabase(storage);
  } catch (error) {
    console.error(migrationFailure(error, storage));
    process.exit(1);
  }
  for (const name of applied) console.log(`Applied ${name}`);
  const database = describeDatabase(storage);
  console.log(applied.length > 0 ? `${applied.length} migration(s) applied: ${database} is up to date` : `No migration to apply: ${database} is up to date`);
}

void main();
