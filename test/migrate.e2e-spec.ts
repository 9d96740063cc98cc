import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { StorageConfig } from '../src/config/app-config.js';
import { dataSourceOptions } from '../src/storage/typeorm/data-source-options.js';
import { freePort } from './support/ports.js';
import { assertOneLineFailure, type Exit, runToExit } from './support/processes.js';
import { createThrowawayDatabase, postgresSkipReason, type ThrowawayDatabase } from './support/postgres.js';

/*
 * The migrations as a deploy step, with the built commands as deployed: `node dist/src/migrate.js`
 * applies them and exits, and a service started with DATABASE_MIGRATE_ON_START=false migrates
 * nothing, so that it is ready on a migrated database and not on an empty one.
 */

const ROOT = join(import.meta.dirname, '..');
/** The built commands (`npm test` builds them first). */
const MAIN = join(ROOT, 'dist/src/main.js');
const MIGRATE = join(ROOT, 'dist/src/migrate.js');

/** Runs the migrate command with `env` and waits for it to exit (it must, within 30 s). */
function migrate(env: Record<string, string>): Promise<Exit> {
  return runToExit(MIGRATE, env, ROOT);
}

/** One service process, started with migrating at start off. */
class Service {
  private output = '';
  private readonly process: ChildProcess;
  private readonly exited: Promise<number | null>;

  constructor(
    private readonly port: number,
    env: Record<string, string>,
  ) {
    this.process = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), DATABASE_MIGRATE_ON_START: 'false', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process.stdout!.on('data', (chunk) => (this.output += chunk));
    this.process.stderr!.on('data', (chunk) => (this.output += chunk));
    this.exited = new Promise((resolve) => this.process.on('exit', (code) => resolve(code)));
  }

  /** The status of GET `path`, or 0 while nothing answers. */
  async status(path: string): Promise<number> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.port}${path}`, { signal: AbortSignal.timeout(5000) });
      await response.arrayBuffer();
      return response.status;
    } catch {
      return 0;
    }
  }

  /** Resolves once the process serves requests (/health/live is 200). */
  async live(): Promise<void> {
    const deadline = Date.now() + 30_000;
    while ((await this.status('/health/live')) !== 200) {
      if (this.process.exitCode !== null || Date.now() > deadline) throw new Error(`the service did not come up: ${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** SIGTERM; resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGTERM');
    return this.exited;
  }

  kill(): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL');
  }
}

/** The names of the driver's migrations, as TypeORM records them, oldest first. */
function migrationNames(storage: StorageConfig): string[] {
  return (dataSourceOptions(storage).migrations as Array<new () => { name?: string }>).map((migration) => new migration().name ?? migration.name);
}

describe.each(['sqlite', 'postgres'] as const)('migrations as a deploy step, on %s', (driver) => {
  const skip = driver === 'postgres' ? postgresSkipReason() : undefined;
  if (skip) {
    it.skip(`skipped: ${skip}`, () => undefined);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'schedules-migrate-'));
  let db: ThrowawayDatabase | undefined;
  let env: Record<string, string>;
  let names: string[];
  const services: Service[] = [];

  async function startService(): Promise<Service> {
    const service = new Service(await freePort(), env);
    services.push(service);
    await service.live();
    return service;
  }

  beforeAll(async () => {
    if (driver === 'postgres') {
      db = await createThrowawayDatabase();
      env = { STORAGE_DRIVER: 'postgres', DATABASE_URL: db.url };
    } else {
      env = { STORAGE_DRIVER: 'sqlite', SQLITE_PATH: join(dir, 'schedules.sqlite') };
    }
    names = migrationNames(driver === 'postgres' ? { driver, sqlitePath: '', databaseUrl: env.DATABASE_URL } : { driver, sqlitePath: env.SQLITE_PATH });
  });

  afterAll(async () => {
    for (const service of services) service.kill();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts the service with DATABASE_MIGRATE_ON_START=false on an empty database: live, not ready, and nothing migrated', async () => {
    const service = await startService();
    assert.equal(await service.status('/health/ready'), 503);
    assert.equal(await service.stop(), 0);
  });

  it('applies every migration with the migrate command, naming each, and exits 0; run again, it has nothing to do', async () => {
    // All of them: the service above applied none.
    const first = await migrate(env);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.equal(first.stderr, '');
    const lines = first.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, -1), names.map((name) => `Applied ${name}`));
    assert.match(lines.at(-1)!, new RegExp(`^${names.length} migration\\(s\\) applied: the (SQLite|PostgreSQL) database .* is up to date$`));

    const again = await migrate(env);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /^No migration to apply: the (SQLite|PostgreSQL) database .* is up to date\n$/);
  });

  it('starts the service with migrating off on the migrated database: ready', async () => {
    const service = await startService();
    const deadline = Date.now() + 10_000;
    let status = await service.status('/health/ready');
    while (status !== 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      status = await service.status('/health/ready');
    }
    assert.equal(status, 200);
    assert.equal(await service.stop(), 0);
  });
});

describe('the migrate command when it cannot migrate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'schedules-migrate-fail-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Exit code 1 and one line on stderr matching `expected`; no stack trace. */
  it('names DATABASE_URL when PostgreSQL cannot be reached', async () => {
    const port = await freePort();
    const result = await migrate({ STORAGE_DRIVER: 'postgres', DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/x`, DATABASE_CONNECT_ATTEMPTS: '1' });
    assertOneLineFailure(result, /^DATABASE_URL: the migrations could not be run on PostgreSQL \(.*ECONNREFUSED/);
  });

  it('names SQLITE_PATH when it is not a file SQLite can use', async () => {
    const folder = join(dir, 'a-folder');
    mkdirSync(folder);
    const result = await migrate({ STORAGE_DRIVER: 'sqlite', SQLITE_PATH: folder });
    assertOneLineFailure(result, new RegExp(`^SQLITE_PATH=${folder}: the migrations could not be run \\(SQLITE_CANTOPEN`));
  });

  it('refuses the memory driver, which has no database, and an invalid variable', async () => {
    assertOneLineFailure(await migrate({ STORAGE_DRIVER: 'memory' }), /^STORAGE_DRIVER=memory: there is no database to migrate/);
    const invalid = await migrate({ DATABASE_MIGRATE_ON_START: 'maybe' });
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /DATABASE_MIGRATE_ON_START="maybe"/);
  });
});
