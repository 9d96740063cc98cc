import { statSync } from 'node:fs';
import { DataSource } from 'typeorm';
import type { StorageConfig } from '../../config/app-config.js';
import { dataSourceOptions } from './data-source-options.js';

/** The wait before the first retry at start-up; it doubles with each. */
const FIRST_RETRY_DELAY_MS = 1000;

const UNREACHABLE = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|the database system is starting up|timeout/i;

/**
 * Opens the SQL storage's DataSource (running the migrations), retrying a database that is not
 * reachable yet a bounded number of times with one log line each; any other failure, or the
 * last attempt's, is thrown for main.ts to report.
 */
export async function openDataSource(config: StorageConfig): Promise<DataSource> {
  const attempts = config.connectAttempts ?? 1;
  if (config.driver === 'sqlite') assertUsableSqlitePath(config.sqlitePath);
  for (let attempt = 1; ; attempt++) {
    try {
      return await new DataSource(dataSourceOptions(config)).initialize();
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

/** A path that exists must be a regular file: SQLite would block on a FIFO and fail on a folder. */
function assertUsableSqlitePath(path: string): void {
  if (path === ':memory:') return;
  const stat = statSync(path, { throwIfNoEntry: false });
  if (stat && !stat.isFile()) {
    throw Object.assign(new Error(`${path} exists and is not a regular file`), { code: 'SQLITE_CANTOPEN' });
  }
}
