import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { assertOneLineFailure, type Exit, runToExit } from './support/processes.js';

/** The built service (`npm test` builds it first), started as deployed. */
const MAIN = join(import.meta.dirname, '..', 'dist/src/main.js');

/** Starts the service with `env` and waits for it to exit (it must, within 30 s). */
function start(env: Record<string, string>): Promise<Exit> {
  return runToExit(MAIN, { HOST: '127.0.0.1', SCHEDULER_ENABLED: 'false', ...env });
}

describe('start-up failures', () => {
  const dir = mkdtempSync(join(tmpdir(), 'schedules-startup-'));
  let busy: Server;
  let busyPort = 0;

  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    busyPort = (busy.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => busy.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('names PORT when the port is in use', async () => {
    const result = await start({ STORAGE_DRIVER: 'memory', PORT: String(busyPort) });
    assertOneLineFailure(result, new RegExp(`^PORT=${busyPort}: the port is already in use`));
  });

  it('names HOST when it is not an address of this machine', async () => {
    const result = await start({ STORAGE_DRIVER: 'memory', PORT: '0', HOST: '203.0.113.7' });
    assertOneLineFailure(result, /^HOST=203\.0\.113\.7: cannot listen on this address/);
  });

  it('names SQLITE_PATH when it is a folder, a FIFO, or under a file', async () => {
    const folder = join(dir, 'a-folder');
    mkdirSync(folder);
    const fifo = join(dir, 'a-fifo');
    execFileSync('mkfifo', [fifo]);
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    for (const path of [folder, fifo, join(file, 'db.sqlite')]) {
      const result = await start({ STORAGE_DRIVER: 'sqlite', SQLITE_PATH: path, PORT: '0' });
      assertOneLineFailure(result, new RegExp(`^SQLITE_PATH=${path}: cannot be used as the SQLite database`));
    }
  });

  // Node's recursive mkdir (which TypeORM uses for the folder) spins forever on this path; start()
  // kills the service after 30 s, so a regression fails here rather than hanging the suite.
  it('names SQLITE_PATH at once when its folder cannot be created', async () => {
    const started = Date.now();
    const result = await start({ STORAGE_DRIVER: 'sqlite', SQLITE_PATH: '/proc/nope/x.db', PORT: '0' });
    assertOneLineFailure(result, /^SQLITE_PATH=\/proc\/nope\/x\.db: cannot be used as the SQLite database \(ENOENT/);
    assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
  }, 40_000);

  it('names DATABASE_URL when it is not a postgres URL, listing every bad variable at once', async () => {
    const result = await start({ STORAGE_DRIVER: 'postgres', DATABASE_URL: 'localhost:5432/db', PORT: 'eighty' });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /DATABASE_URL="localhost:5432\/db": DATABASE_URL must be a postgres:\/\/ URL/);
    assert.match(result.stderr, /PORT="eighty"/);
    assert.doesNotMatch(result.stderr, /^\s+at /m);
  });

  it('gives up on an unreachable PostgreSQL after bounded retries, with one final line naming DATABASE_URL', async () => {
    // A port nothing listens on: connections are refused at once.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await start({ STORAGE_DRIVER: 'postgres', DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/x`, DATABASE_CONNECT_ATTEMPTS: '3', PORT: '0' });
    assert.equal(result.code, 1);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.filter((line) => /^The database is not reachable \(attempt \d of 3: .*\); retrying in \d+ ms$/.test(line)).length, 2, result.stderr);
    assert.match(lines[lines.length - 1], /^DATABASE_URL: PostgreSQL could not be used \(.*ECONNREFUSED/);
    assert.equal(lines.length, 3, result.stderr);
    assert.doesNotMatch(result.stdout + result.stderr, /^\s+at /m, "a stack trace was printed");
  }, 60_000);
});
