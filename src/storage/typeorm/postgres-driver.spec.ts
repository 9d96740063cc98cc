import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { freePort } from '../../../test/support/ports.js';
import { createThrowawayDatabase, postgresSkipReason, type ThrowawayDatabase } from '../../../test/support/postgres.js';
import { GuardedClient, NoDatabaseSession, SessionPool } from './postgres-driver.js';

describe('SessionPool', () => {
  it('fails to hand out a connection as NoDatabaseSession, keeping the cause, asked either way', async () => {
    const pool = new SessionPool({ host: '127.0.0.1', port: await freePort(), connectionTimeoutMillis: 1000 });
    try {
      const asPromise = await pool.connect().then(
        () => assert.fail('connected to nothing'),
        (error: unknown) => error,
      );
      const byCallback = await new Promise<unknown>((resolve) => pool.connect((error) => resolve(error)));
      for (const error of [asPromise, byCallback]) {
        assert.ok(error instanceof NoDatabaseSession, String(error));
        assert.equal(error.code, 'ECONNREFUSED');
        assert.equal((error.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
      }
    } finally {
      await pool.end();
    }
  });
});

describe('GuardedClient', () => {
  const skip = postgresSkipReason();
  if (skip) {
    it.skip(`skipped: ${skip}`, () => undefined);
    return;
  }
  let database: ThrowawayDatabase;
  beforeAll(async () => {
    database = await createThrowawayDatabase();
  });
  afterAll(() => database?.drop());

  it('closes its connection when a statement got no answer in time, rather than queue the next ones behind it', async () => {
    const client = new GuardedClient({ connectionString: database.url, query_timeout: 200 });
    await client.connect();
    try {
      await assert.rejects(client.query('SELECT pg_sleep(2)'), /Query read timeout/);
      // Closed: the next statement fails as such, not queued behind the sleep (which would time out too).
      await assert.rejects(client.query('SELECT 1'), /not queryable|terminated/);
    } finally {
      await client.end().catch(() => undefined);
    }
  });

  it('closes its connection when the server refused a write as read-only, and keeps it for any other refusal', async () => {
    const client = new GuardedClient({ connectionString: database.url });
    await client.connect();
    try {
      await assert.rejects(client.query('SELECT 1/0'), { code: '22012' });
      assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
      await client.query('SET default_transaction_read_only = on');
      await assert.rejects(client.query('CREATE TABLE t (x int)'), { code: '25006' });
      await assert.rejects(client.query('SELECT 1'), /not queryable|terminated/);
    } finally {
      await client.end().catch(() => undefined);
    }
  });
});
