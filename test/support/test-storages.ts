import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import type { StorageConfig } from '../../src/config/app-config.js';
import type { OpenedStorage } from '../storage/contract/run-storage-contract.js';
import { DEFAULT_STORAGE_OPTIONS, type StorageOptions } from '../../src/storage/storage-options.js';
import { dataSourceOptions } from '../../src/storage/typeorm/data-source-options.js';
import { TypeOrmStorage } from '../../src/storage/typeorm/typeorm.storage.js';
import { createThrowawayDatabase } from './postgres.js';

/** A TypeOrmStorage on `config`, schema from the real migrations; `cleanup` runs after it closes. */
async function openTypeOrmStorage(config: StorageConfig, options: StorageOptions, cleanup: () => unknown): Promise<OpenedStorage> {
  const storage = new TypeOrmStorage(await new DataSource(dataSourceOptions(config)).initialize(), options);
  return {
    storage,
    async dispose() {
      await storage.lifecycle.close();
      await cleanup();
    },
  };
}

/** A TypeOrmStorage on a fresh SQLite file. */
export function openSqliteTestStorage(options: StorageOptions = DEFAULT_STORAGE_OPTIONS): Promise<OpenedStorage> {
  const dir = mkdtempSync(join(tmpdir(), 'schedules-sqlite-'));
  return openTypeOrmStorage({ driver: 'sqlite', sqlitePath: join(dir, 'test.sqlite') }, options, () =>
    rmSync(dir, { recursive: true, force: true }),
  );
}

/** A TypeOrmStorage on a throwaway PostgreSQL database. */
export async function openPostgresTestStorage(options: StorageOptions = DEFAULT_STORAGE_OPTIONS): Promise<OpenedStorage> {
  const db = await createThrowawayDatabase();
  return openTypeOrmStorage({ driver: 'postgres', sqlitePath: '', databaseUrl: db.url }, options, () => db.drop());
}
