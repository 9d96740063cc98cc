import { after, describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { AppModule } from '../../src/app.module';
import { configureApp, createHttpAdapter } from '../../src/app.setup';
import { Clock } from '../../src/common/clock';
import type { AppConfig, SchedulerConfig, StorageDriver } from '../../src/config/app-config';
import { createThrowawayDatabase } from './postgres';
import { ManualClock } from './manual-clock';

export interface TestApp {
  app: NestFastifyApplication;
  clock: ManualClock;
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** The ticker; off unless asked for (tests call SchedulerService.tick themselves). */
  scheduler?: SchedulerConfig;
  /** Reuse this SQLite file (kept afterwards), as a restarted service would. */
  sqlitePath?: string;
  /** The system clock instead of the manual one. */
  realClock?: boolean;
}

/**
 * The real application, in process, on a fresh store of the given backend, with a manual clock
 * and no ticker unless the options say otherwise.
 * Returns a reason instead when the backend is not available here (PostgreSQL outside CI).
 */
export async function createTestApp(driver: StorageDriver, options: TestAppOptions = {}): Promise<TestApp | string> {
  const scheduler = options.scheduler ?? { enabled: false, intervalMs: 1000, batchSize: 100 };
  const cleanups: Array<() => Promise<void> | void> = [];
  const storage: AppConfig['storage'] = { driver, sqlitePath: ':memory:' };
  if (driver === 'sqlite' && options.sqlitePath) {
    storage.sqlitePath = options.sqlitePath;
  } else if (driver === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'schedules-e2e-'));
    storage.sqlitePath = join(dir, 'e2e.sqlite');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  }
  if (driver === 'postgres') {
    const db = await createThrowawayDatabase();
    if (typeof db === 'string') return db;
    storage.databaseUrl = db.url;
    cleanups.push(() => db.drop());
  }
  const clock = new ManualClock();
  const builder = Test.createTestingModule({
    imports: [AppModule.forRoot({ host: '127.0.0.1', port: 0, storage, scheduler })],
  });
  const moduleRef = await (options.realClock ? builder : builder.overrideProvider(Clock).useValue(clock)).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(createHttpAdapter(), { logger: false });
  configureApp(app);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return {
    app,
    clock,
    async close() {
      await app.close();
      for (const cleanup of cleanups.reverse()) await cleanup();
    },
  };
}

export const BACKENDS: StorageDriver[] = ['memory', 'sqlite', 'postgres'];

/**
 * One `describe` per backend, each on its own fresh app; where a backend is not available here
 * (PostgreSQL outside CI) its suite is one skipped test that says why.
 */
export function describeOnEveryBackend(title: string, body: (testApp: TestApp) => void): void {
  for (const driver of BACKENDS) {
    describe(`${title} on ${driver}`, async () => {
      const testApp = await createTestApp(driver);
      if (typeof testApp === 'string') {
        it(`skipped: ${testApp}`, { skip: testApp }, () => undefined);
        return;
      }
      after(() => testApp.close());
      body(testApp);
    });
  }
}
