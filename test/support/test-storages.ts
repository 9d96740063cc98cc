import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { createThrowawayDatabase } from './postgres';
import type { OpenedStorage } from '../../src/storage/storage.contract';
import { dataSourceOptions } from '../../src/storage/typeorm/data-source-options';
import { TypeOrmStorage } from '../../src/storage/typeorm/typeorm.storage';

/** A TypeOrmStorage on a fresh SQLite file, schema from the real migrations. */
export async function openSqliteTestStorage(): Promise<OpenedStorage> {
  const dir = mkdtempSync(join(tmpdir(), 'schedules-sqlite-'));
  const dataSource = await new DataSource(
    dataSourceOptions({ driver: 'sqlite', sqlitePath: join(dir, 'test.sqlite') }),
  ).initialize();
  const storage = new TypeOrmStorage(dataSource);
  return {
    storage,
    async dispose() {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A TypeOrmStorage on a throwaway PostgreSQL database, or why there is none. */
export async function openPostgresTestStorage(): Promise<OpenedStorage | string> {
  const db = await createThrowawayDatabase();
  if (typeof db === 'string') return db;
  const dataSource = await new DataSource(
    dataSourceOptions({ driver: 'postgres', sqlitePath: '', databaseUrl: db.url }),
  ).initialize();
  const storage = new TypeOrmStorage(dataSource);
  return {
    storage,
    async dispose() {
      await storage.close();
      await db.drop();
    },
  };
}
