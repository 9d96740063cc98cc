import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import type { StorageConfig } from '../../src/config/app-config.js';
import type { OpenedStorage } from '../storage.contract.js';
import { dataSourceOptions } from '../../src/storage/typeorm/data-source-options.js';
import { TypeOrmStorage } from '../../src/storage/typeorm/typeorm.storage.js';
import { createThrowawayDatabase } from './postgres.js';

/** A TypeOrmStorage on `config`, schema from the real migrations; `cleanup` runs after it closes. */
async function openTypeOrmStorage(config: StorageConfig, cleanup: () => unknown): Promise<OpenedStorage> {
  const storage = new TypeOrmStorage(await new DataSource(dataSourceOptions(config)).initialize());
  return {
    storage,
    async dispose() {
      await storage.close();
      await cleanup();
    },
  };
}

/** A TypeOrmStorage on a fresh SQLite file. */
export function openSqliteTestStorage(): Promise<OpenedStorage> {
  const dir = mkdtempSync(join(tmpdir(), 'schedules-sqlite-'));
  return openTypeOrmStorage({ driver: 'sqlite', sqlitePath: join(dir, 'test.sqlite') }, () =>
    rmSync(dir, { recursive: true, force: true }),
  );
}

/** A TypeOrmStorage on a throwaway PostgreSQL database. */
export async function openPostgresTestStorage(): Promise<OpenedStorage> {
  const db = await createThrowawayDatabase();
  return openTypeOrmStorage({ driver: 'postgres', sqlitePath: '', databaseUrl: db.url }, () => db.drop());
}
