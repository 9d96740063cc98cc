import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { AppModule } from '../../src/app.module.js';
import { configureApp, createHttpAdapter } from '../../src/app.setup.js';
import { Clock } from '../../src/common/clock.js';
import { createLogger } from '../../src/logging/logger.js';
import { NestPinoLogger } from '../../src/logging/nest-logger.js';
import {
  type AppConfig,
  type AuthConfig,
  DEFAULT_HTTP_CONFIG,
  DEFAULT_OBSERVABILITY,
  type ObservabilityConfig,
  type RateLimitConfig,
  type DispatchConfig,
  DEFAULT_LIMITS,
  type HttpConfig,
  type LimitsConfig,
  type SchedulerConfig,
  type StorageConfig,
  type StorageDriver,
} from '../../src/config/app-config.js';
import { DispatchHandOff } from '../../src/storage/dispatch-hand-off.js';
import { DeliveryStorage } from '../../src/storage/ports/delivery.storage.js';
import { IdempotencyStorage } from '../../src/storage/ports/idempotency.storage.js';
import { FiringStorage } from '../../src/storage/ports/firing.storage.js';
import { HistoryStorage } from '../../src/storage/ports/history.storage.js';
import { ScheduleStorage } from '../../src/storage/ports/schedule.storage.js';
import { StorageLifecycle } from '../../src/storage/ports/storage-lifecycle.js';
import type { StorageBackend } from '../../src/storage/storage-backend.js';
import { checkResponsesAgainstContract } from './contract-conformance.js';
import { createThrowawayDatabase, postgresSkipReason } from './postgres.js';
import { ManualClock } from './manual-clock.js';

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
  /** The manual clock to use (a fresh one otherwise). */
  clock?: ManualClock;
  /** The HTTP server's timeouts and connection cap (the service's defaults otherwise). */
  http?: HttpConfig;
  /** This PostgreSQL database (kept afterwards) instead of a throwaway one. */
  databaseUrl?: string;
  /** Limits other than DEFAULT_LIMITS. */
  limits?: Partial<LimitsConfig>;
  /** Storage settings (the stateful session bound, the pool and its timeouts) other than the defaults. */
  storage?: Pick<StorageConfig, 'statefulSessionMaxMessages' | 'poolSize' | 'statementTimeoutMs' | 'connectTimeoutMs'>;
  /** Hand fires to a runtime at this configuration; record-only mode otherwise. */
  dispatch?: DispatchConfig;
  /** The runtime's bearer token on /runtime routes; none otherwise (they answer 404). */
  runtimeToken?: string;
  /** Identity from JWTs instead of the x-user-id header. */
  auth?: AuthConfig;
  /** A rate limit; none otherwise. */
  rateLimit?: RateLimitConfig;
  /** Log level and format, metrics on or off (DEFAULT_OBSERVABILITY otherwise). */
  observability?: ObservabilityConfig;
  /** CORS origins; CORS off otherwise. */
  corsOrigins?: string[];
  /** Where the service's logs go (JSON lines); no logs otherwise. */
  logStream?: NodeJS.WritableStream;
  /** The web console at /console (CONSOLE_ENABLED); on otherwise. */
  consoleEnabled?: boolean;
}

/**
 * The real application, in process, on a fresh store of the given backend, with a manual clock
 * and no ticker unless the options say otherwise.
 */
export async function createTestApp(driver: StorageDriver, options: TestAppOptions = {}): Promise<TestApp> {
  const scheduler = options.scheduler ?? { enabled: false, intervalMs: 1000, batchSize: 100 };
  const cleanups: Array<() => Promise<void> | void> = [];
  const storage: AppConfig['storage'] = { driver, sqlitePath: ':memory:', ...options.storage };
  if (driver === 'sqlite' && options.sqlitePath) {
    storage.sqlitePath = options.sqlitePath;
  } else if (driver === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'schedules-e2e-'));
    storage.sqlitePath = join(dir, 'e2e.sqlite');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  }
  if (driver === 'postgres' && options.databaseUrl) {
    storage.databaseUrl = options.databaseUrl;
  } else if (driver === 'postgres') {
    const db = await createThrowawayDatabase();
    storage.databaseUrl = db.url;
    cleanups.push(() => db.drop());
  }
  const clock = options.clock ?? new ManualClock();
  const config: AppConfig = {
    host: '127.0.0.1',
    port: 0,
    http: options.http ?? DEFAULT_HTTP_CONFIG,
    storage,
    scheduler,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    dispatch: options.dispatch ?? null,
    runtime: { token: options.runtimeToken ?? null },
    auth: options.auth,
    rateLimit: options.rateLimit,
    observability: options.observability,
    corsOrigins: options.corsOrigins,
    consoleEnabled: options.consoleEnabled,
  };
  const builder = Test.createTestingModule({ imports: [AppModule.forRoot(config)] });
  const moduleRef = await (options.realClock ? builder : builder.overrideProvider(Clock).useValue(clock)).compile();
  const logger = options.logStream ? createLogger(config.observability ?? DEFAULT_OBSERVABILITY, options.logStream) : undefined;
  // Nest's logs go to the same stream, or nowhere.
  const app = moduleRef.createNestApplication<NestFastifyApplication>(createHttpAdapter(options.http, logger), {
    logger: logger ? new NestPinoLogger(logger) : false,
  });
  checkResponsesAgainstContract(app.getHttpAdapter().getInstance());
  await configureApp(app, config);
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

/** The storage ports the app bound, for tests that write or read behind the API. */
export function appStorage(app: NestFastifyApplication): StorageBackend {
  return {
    schedules: app.get(ScheduleStorage),
    history: app.get(HistoryStorage),
    firing: app.get(FiringStorage),
    delivery: app.get(DeliveryStorage),
    idempotency: app.get(IdempotencyStorage),
    lifecycle: app.get(StorageLifecycle),
    handOff: app.get(DispatchHandOff),
  };
}

export const BACKENDS: StorageDriver[] = ['memory', 'sqlite', 'postgres'];

/** What a suite on one backend sees: the clock at once, the app once `beforeAll` has built it. */
export interface BackendHandle {
  readonly clock: ManualClock;
  readonly app: NestFastifyApplication;
}

/**
 * One `describe` per backend, each on its own fresh app, built in `beforeAll` (Jest defines
 * suites synchronously): the body reads `backend.app` inside hooks and tests, never while
 * defining them. Where PostgreSQL is not available (outside CI) its suite is one skipped test
 * that says why. `options` configure every backend's app alike; a function is called in
 * `beforeAll` (for what exists only then, such as a receiver's port).
 */
export function describeOnEveryBackend(
  title: string,
  body: (backend: BackendHandle) => void,
  options: Omit<TestAppOptions, 'clock'> | (() => Omit<TestAppOptions, 'clock'>) = {},
): void {
  for (const driver of BACKENDS) {
    describe(`${title} on ${driver}`, () => {
      const skip = driver === 'postgres' ? postgresSkipReason() : undefined;
      if (skip) {
        it.skip(`skipped: ${skip}`, () => undefined);
        return;
      }
      const clock = new ManualClock();
      let testApp: TestApp | undefined;
      beforeAll(async () => {
        testApp = await createTestApp(driver, { ...(typeof options === 'function' ? options() : options), clock });
      });
      afterAll(() => testApp?.close());
      body({
        clock,
        get app() {
          if (!testApp) throw new Error('the app is built in beforeAll: read backend.app in hooks and tests');
          return testApp.app;
        },
      });
    });
  }
}
