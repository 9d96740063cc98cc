import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import pg from 'pg';
import request from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { aCreateBody } from './support/builders.js';
import { createThrowawayDatabase, postgresSkipReason, type ThrowawayDatabase } from './support/postgres.js';
import { createTestApp, type TestApp } from './support/test-app.js';

// Real time by nature: a ticker that would otherwise sleep a minute must fire a schedule created
// a second or two ahead on time. The bounds are generous; the figures themselves are the bench's.
const LONG_SLEEP = { enabled: true, intervalMs: 60_000, batchSize: 100 };
/**
 * How late a woken fire may be here: far below the minute the ticker would otherwise sleep, and
 * wide enough for a CI machine busy with the other suites (on a quiet one it is a few ms).
 */
const MARGIN_MS = 5000;

/** Creates an every-second schedule starting `aheadMs` from now; returns its id and first run. */
async function createSoon(app: TestApp, userId: string, aheadMs: number): Promise<{ id: string; firstRun: number }> {
  const startedAt = new Date(Date.now() + aheadMs);
  const res = await request(app.app.getHttpServer())
    .post('/schedule')
    .set('x-user-id', userId)
    .send(aCreateBody({ cron_expression: '* * * * * *', timezone: 'UTC', started_at: startedAt.toISOString() }))
    .expect(201);
  const id = res.body.schedule_id as string;
  const schedule = await request(app.app.getHttpServer()).get(`/schedule/${id}`).set('x-user-id', userId).expect(200);
  return { id, firstRun: Date.parse(schedule.body.next_run_at) };
}

/** Waits (up to `timeoutMs`) for the schedule's first run; returns when it was seen and the run. */
async function firstRunOf(app: TestApp, userId: string, id: string, timeoutMs: number): Promise<{ seenAt: number; run: { scheduled_for: string; fired_at: string } }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await request(app.app.getHttpServer()).get(`/schedule/${id}/runs`).set('x-user-id', userId).expect(200);
    const runs = res.body.runs as { scheduled_for: string; fired_at: string }[];
    if (runs.length > 0) return { seenAt: Date.now(), run: runs[runs.length - 1]! };
    if (Date.now() > deadline) assert.fail(`no run of ${id} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('precise wake-ups in one process (memory)', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp('memory', { scheduler: LONG_SLEEP, realClock: true });
  });
  afterAll(() => app?.close());

  it('fires a schedule created a second ahead on time, though the ticker sleeps up to a minute', async () => {
    const userId = `user-${uuidv7()}`;
    const { id, firstRun } = await createSoon(app, userId, 1000);
    const { run } = await firstRunOf(app, userId, id, 1000 + MARGIN_MS);
    assert.equal(Date.parse(run.scheduled_for), firstRun);
    assert.ok(Date.parse(run.fired_at) - firstRun < MARGIN_MS, JSON.stringify(run));
  });
});

const skip = postgresSkipReason();
(skip ? describe.skip : describe)(`precise wake-ups across replicas (PostgreSQL)${skip ? `: skipped: ${skip}` : ''}`, () => {
  let db: ThrowawayDatabase;
  /** Serves the API only: it tells, never fires. */
  let api: TestApp;
  /** Fires, with a minute's maximum sleep. */
  let ticker: TestApp;
  let admin: pg.Client;

  /** The LISTEN connections of the test's database, by backend pid. */
  const listeners = async (): Promise<number[]> =>
    (
      await admin.query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN schedule_due'`)
    ).rows.map((row: { pid: number }) => row.pid);
  /** Waits for exactly one LISTEN connection other than `gone` (a terminated backend lingers a moment). */
  async function untilListening(gone: number[] = []): Promise<void> {
    const current = async () => (await listeners()).filter((pid) => !gone.includes(pid));
    // The first reconnection waits LISTEN_RETRY_FIRST_MS; a busy machine can take seconds more.
    for (let i = 0; i < 750 && (await current()).length !== 1; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal((await current()).length, 1, `LISTEN connections: ${JSON.stringify(await listeners())}, terminated: ${JSON.stringify(gone)}`);
  }

  beforeAll(async () => {
    db = await createThrowawayDatabase();
    api = await createTestApp('postgres', { databaseUrl: db.url, scheduler: { ...LONG_SLEEP, enabled: false }, realClock: true });
    ticker = await createTestApp('postgres', { databaseUrl: db.url, scheduler: LONG_SLEEP, realClock: true });
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await untilListening();
  });
  afterAll(async () => {
    await admin?.end();
    await ticker?.close();
    await api?.close();
    await db?.drop();
  });

  it('holds one LISTEN connection in the replica that fires, none in the one that does not', async () => {
    assert.equal((await listeners()).length, 1);
  });

  it("fires, in another replica's ticker, a schedule created 1.5 s ahead, on time", async () => {
    const userId = `user-${uuidv7()}`;
    const { id, firstRun } = await createSoon(api, userId, 1500);
    const { run } = await firstRunOf(api, userId, id, 1500 + MARGIN_MS);
    assert.equal(Date.parse(run.scheduled_for), firstRun);
    assert.ok(Date.parse(run.fired_at) - firstRun < MARGIN_MS, JSON.stringify(run));
  });

  it('listens again after its connection is cut, and is woken again', async () => {
    const before = await listeners();
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN schedule_due'`);
    // Until the new connection listens: the terminated one may still be listed for a moment.
    await untilListening(before);
    const userId = `user-${uuidv7()}`;
    const { id, firstRun } = await createSoon(api, userId, 1000);
    const { run } = await firstRunOf(api, userId, id, 1000 + MARGIN_MS);
    assert.equal(Date.parse(run.scheduled_for), firstRun);
    assert.ok(Date.parse(run.fired_at) - firstRun < MARGIN_MS, JSON.stringify(run));
  });
});
