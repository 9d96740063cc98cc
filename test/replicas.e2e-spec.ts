import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import { DataSource } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import type { StorageBackend } from '../src/storage/storage-backend.js';
import { dataSourceOptions } from '../src/storage/typeorm/data-source-options.js';
import { TypeOrmStorage } from '../src/storage/typeorm/typeorm.storage.js';
import { aSchedule } from './support/builders.js';
import { createThrowawayDatabase, postgresSkipReason, type ThrowawayDatabase } from './support/postgres.js';

const ROOT = join(import.meta.dirname, '..');
/** A log line at error level or worse: the service logs JSON lines (pino). */
const LOGGED_ERROR = /"level":"(error|fatal)"/;

/** The built service (`npm test` builds it first), started as deployed. */
const MAIN = join(ROOT, 'dist/src/main.js');

/** One service process, as deployed: its own ticker, sharing the database with the others. */
class Replica {
  readonly process: ChildProcess;
  readonly output: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(databaseUrl: string, extraEnv: Record<string, string> = {}) {
    this.process = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        STORAGE_DRIVER: 'postgres',
        DATABASE_URL: databaseUrl,
        HOST: '127.0.0.1',
        PORT: '0',
        SCHEDULER_INTERVAL_MS: '100',
        SCHEDULER_BATCH_SIZE: '25',
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process.stdout!.on('data', (chunk) => this.output.push(String(chunk)));
    this.process.stderr!.on('data', (chunk) => this.output.push(String(chunk)));
    this.exited = new Promise((resolve) => this.process.on('exit', (code, signal) => resolve({ code, signal })));
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(value)})`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('several replicas on one PostgreSQL database', () => {
  const skip = postgresSkipReason();
  if (skip) {
    it.skip(`skipped: ${skip}`, () => undefined);
    return;
  }
  let db: ThrowawayDatabase;
  let dataSource: DataSource;
  let storage: StorageBackend;
  const replicas: Replica[] = [];

  beforeAll(async () => {
    db = await createThrowawayDatabase();
    dataSource = await new DataSource(dataSourceOptions({ driver: 'postgres', sqlitePath: '', databaseUrl: db.url })).initialize();
    storage = new TypeOrmStorage(dataSource);
  });
  afterAll(async () => {
    for (const r of replicas) if (r.process.exitCode === null && r.process.signalCode === null) r.process.kill('SIGKILL');
    await storage.lifecycle.close();
    await db.drop();
  });

  const count = async (sql: string, params: unknown[] = []) => Number((await dataSource.query(sql, params))[0].n);

  /** `n` schedules of one user, all due now, each due once (yearly cron). */
  async function seedDueBurst(userId: string, n: number): Promise<void> {
    const now = new Date();
    const schedules = Array.from({ length: n }, () =>
      aSchedule({ userId, cronExpression: '0 0 1 1 *', timezone: 'UTC', startedAt: null, nextRunAt: now }),
    );
    for (let i = 0; i < n; i += 50) await Promise.all(schedules.slice(i, i + 50).map((s) => storage.schedules.createSchedule(s)));
  }

  /** Every schedule of the user fired exactly once: one succeeded run, one session, and nothing else. */
  async function assertFiredExactlyOnce(userId: string, n: number): Promise<void> {
    assert.equal(await count(`SELECT count(*) AS n FROM runs WHERE user_id = $1 AND status = 'succeeded'`, [userId]), n);
    assert.equal(await count(`SELECT count(*) AS n FROM runs WHERE user_id = $1 AND status <> 'succeeded'`, [userId]), 0);
    assert.equal(await count(`SELECT count(*) AS n FROM sessions WHERE user_id = $1`, [userId]), n);
    const perSchedule = await dataSource.query(
      `SELECT s.id, count(DISTINCT r.id) AS runs, count(DISTINCT x.id) AS sessions
         FROM schedules s LEFT JOIN runs r ON r.schedule_id = s.id LEFT JOIN sessions x ON x.source_schedule_id = s.id
        WHERE s.user_id = $1 GROUP BY s.id HAVING count(DISTINCT r.id) <> 1 OR count(DISTINCT x.id) <> 1`,
      [userId],
    );
    assert.deepEqual(perSchedule, []);
    assert.equal(
      await count(`SELECT count(*) AS n FROM schedules WHERE user_id = $1 AND (next_run_at <= now() OR last_run_at IS NULL)`, [userId]),
      0,
    );
  }

  it('three replicas fire every due time exactly once, and stop cleanly on SIGTERM', async () => {
    // (Each replica logs its start-up; an error line would mean a failed fire or tick.)
    const burstUser = `burst-${uuidv7()}`;
    const steadyUser = `steady-${uuidv7()}`;
    await seedDueBurst(burstUser, 300);
    // Plus schedules firing every 2 seconds for as long as the replicas run. Their first due time
    // sits on the cron's grid (an even second), as the service itself would compute it; an
    // off-grid seed made the first gap shorter than 2 s whenever the replicas started quickly.
    const firstDue = new Date(Math.ceil((Date.now() + 2000) / 2000) * 2000);
    for (let i = 0; i < 20; i++) {
      await storage.schedules.createSchedule(
        aSchedule({ userId: steadyUser, cronExpression: '*/2 * * * * *', timezone: 'UTC', startedAt: null, nextRunAt: firstDue }),
      );
    }
    replicas.push(new Replica(db.url), new Replica(db.url), new Replica(db.url));
    const started = replicas.slice(-3);
    await waitFor('the burst to fire', () => count(`SELECT count(*) AS n FROM runs WHERE user_id = $1`, [burstUser]), (n) => n >= 300);
    await waitFor('six steady fire times', () => count(`SELECT count(*) AS n FROM sessions WHERE user_id = $1`, [steadyUser]), (n) => n >= 20 * 6);

    for (const r of started) r.process.kill('SIGTERM');
    for (const r of started) {
      const { code, signal } = await r.exited;
      assert.ok(code === 0 || signal === 'SIGTERM', `replica exited with ${code ?? signal}: ${r.output.join('')}`);
      assert.doesNotMatch(r.output.join(''), LOGGED_ERROR, 'a replica logged an error');
    }
    await assertFiredExactlyOnce(burstUser, 300);
    // Steady schedules: each 2-second fire time once, none skipped, a session per run.
    const rows: Array<{ schedule_id: string; slots: Date[]; sessions: string }> = await dataSource.query(
      `SELECT r.schedule_id, array_agg(r.scheduled_for ORDER BY r.scheduled_for) AS slots,
              (SELECT count(*) FROM sessions x WHERE x.source_schedule_id = r.schedule_id) AS sessions
         FROM runs r WHERE r.user_id = $1 AND r.status = 'succeeded' GROUP BY r.schedule_id`,
      [steadyUser],
    );
    assert.equal(rows.length, 20);
    for (const row of rows) {
      const times = row.slots.map((d) => new Date(d).getTime());
      for (let i = 1; i < times.length; i++) assert.equal(times[i] - times[i - 1], 2000, `gap or double in ${row.schedule_id}`);
      assert.equal(Number(row.sessions), times.length);
    }
    assert.equal(await count(`SELECT count(*) AS n FROM runs WHERE user_id = $1 AND status <> 'succeeded'`, [steadyUser]), 0);
  });

  it('three replicas keep 1 000 schedules to a budget of 3 runs a day: exactly 3 fires each, every later fire time skipped, none lost', async () => {
    const userId = `budget-${uuidv7()}`;
    const MAX_RUNS = 3;
    // A zone where it is about noon now, so that no local midnight (a new period) falls in the test.
    const offset = 12 - new Date().getUTCHours();
    const timezone = offset === 0 ? 'Etc/GMT' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
    const firstDue = new Date(Math.ceil((Date.now() + 3000) / 2000) * 2000);
    const schedules = Array.from({ length: 1000 }, () =>
      aSchedule({
        userId,
        cronExpression: '*/2 * * * * *',
        timezone,
        startedAt: null,
        nextRunAt: firstDue,
        budget: { period: 'day', maxRuns: MAX_RUNS, maxTokens: null, maxCostUsd: null },
      }),
    );
    for (let i = 0; i < schedules.length; i += 50) await Promise.all(schedules.slice(i, i + 50).map((s) => storage.schedules.createSchedule(s)));
    replicas.push(...[0, 1, 2].map(() => new Replica(db.url, { SCHEDULER_BATCH_SIZE: '200' })));
    const started = replicas.slice(-3);
    // Every schedule past its budget by two fire times.
    await waitFor(
      'two budget skips per schedule',
      () => count(`SELECT count(*) AS n FROM runs WHERE user_id = $1 AND skip_reason = 'budget_exhausted'`, [userId]),
      (n) => n >= 2 * schedules.length,
    );
    for (const r of started) r.process.kill('SIGTERM');
    for (const r of started) {
      const { code, signal } = await r.exited;
      assert.ok(code === 0 || signal === 'SIGTERM', `replica exited with ${code ?? signal}: ${r.output.join('')}`);
      assert.doesNotMatch(r.output.join(''), LOGGED_ERROR, 'a replica logged an error');
    }
    const perSchedule: Array<{ id: string; fired: string; skipped: string; other: string; fire_count: number; first_skip: Date; last_fire: Date }> = await dataSource.query(
      `SELECT s.id, s.fire_count,
              count(*) FILTER (WHERE r.status = 'succeeded') AS fired,
              count(*) FILTER (WHERE r.status = 'skipped' AND r.skip_reason = 'budget_exhausted') AS skipped,
              count(*) FILTER (WHERE r.status NOT IN ('succeeded', 'skipped')) AS other,
              min(r.scheduled_for) FILTER (WHERE r.status = 'skipped') AS first_skip,
              max(r.scheduled_for) FILTER (WHERE r.status = 'succeeded') AS last_fire
         FROM schedules s JOIN runs r ON r.schedule_id = s.id WHERE s.user_id = $1 GROUP BY s.id`,
      [userId],
    );
    assert.equal(perSchedule.length, schedules.length);
    for (const row of perSchedule) {
      assert.deepEqual([Number(row.fired), Number(row.fire_count), Number(row.other)], [MAX_RUNS, MAX_RUNS, 0], row.id);
      assert.ok(Number(row.skipped) >= 2, row.id);
      // The fires come first; every fire time after them is skipped. (A replica that fell behind
      // may coalesce fire times into one catch-up fire, so the exact slots are not asserted.)
      assert.ok(new Date(row.last_fire) < new Date(row.first_skip), row.id);
    }
    const stored = await storage.schedules.getSchedule(userId, schedules[0].id);
    assert.deepEqual([stored?.stats.period?.runs, stored?.enabled, stored?.budgetExhaustedUntil !== null], [MAX_RUNS, true, true]);
  });

  it('still fires every due time exactly once when a replica is SIGKILLed mid-burst', async () => {
    const user = `kill-${uuidv7()}`;
    const n = 1000;
    await seedDueBurst(user, n);
    const [victim, ...survivors] = [new Replica(db.url), new Replica(db.url), new Replica(db.url)];
    replicas.push(victim, ...survivors);
    const progress = () => count(`SELECT count(*) AS n FROM runs WHERE user_id = $1`, [user]);
    const atKill = await waitFor('the burst to start', progress, (fired) => fired > 0);
    victim.process.kill('SIGKILL');
    assert.equal((await victim.exited).signal, 'SIGKILL');
    assert.ok(atKill < n, `the burst was over before the kill (${atKill} fired)`);
    await waitFor('the survivors to finish the burst', progress, (fired) => fired >= n);
    for (const r of survivors) r.process.kill('SIGTERM');
    for (const r of survivors) await r.exited;
    await assertFiredExactlyOnce(user, n);
    for (const r of survivors) assert.doesNotMatch(r.output.join(''), LOGGED_ERROR, 'a survivor logged an error');
  });
});

/**
 * The agent runtime the replicas dispatch to: verifies each webhook's signature, answers after a
 * little while (so that deliveries are in flight when a replica is killed) with a final status,
 * and counts the deliveries of each run (webhook-id).
 */
class RecordingRuntime {
  readonly secret = `whsec_${randomBytes(32).toString('base64')}`;
  readonly deliveries = new Map<string, number>();
  badSignatures = 0;
  private readonly server: Server;
  private readonly verifier = new Webhook(this.secret);

  constructor(private readonly answerAfterMs: number) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        try {
          this.verifier.verify(body, req.headers as Record<string, string>);
        } catch {
          this.badSignatures++;
          res.writeHead(401).end();
          return;
        }
        const id = String(req.headers['webhook-id']);
        this.deliveries.set(id, (this.deliveries.get(id) ?? 0) + 1);
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"succeeded"}'), this.answerAfterMs);
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('several replicas dispatching to one runtime', () => {
  const skip = postgresSkipReason();
  if (skip) {
    it.skip(`skipped: ${skip}`, () => undefined);
    return;
  }
  let db: ThrowawayDatabase;
  let dataSource: DataSource;
  let storage: StorageBackend;
  const runtime = new RecordingRuntime(50);
  let dispatchEnv: Record<string, string>;
  const replicas: Replica[] = [];

  beforeAll(async () => {
    db = await createThrowawayDatabase();
    dataSource = await new DataSource(dataSourceOptions({ driver: 'postgres', sqlitePath: '', databaseUrl: db.url })).initialize();
    storage = new TypeOrmStorage(dataSource);
    dispatchEnv = { DISPATCH_URL: await runtime.start(), DISPATCH_SECRET: runtime.secret };
  });
  afterAll(async () => {
    for (const r of replicas) if (r.process.exitCode === null && r.process.signalCode === null) r.process.kill('SIGKILL');
    await runtime.stop();
    await storage.lifecycle.close();
    await db.drop();
  });

  const count = async (sql: string, params: unknown[] = []) => Number((await dataSource.query(sql, params))[0].n);
  const finalRuns = (userId: string) =>
    count(`SELECT count(*) AS n FROM runs WHERE user_id = $1 AND status NOT IN ('pending', 'dispatched', 'running')`, [userId]);

  /** `n` schedules of one user, all due now, each due once; returns their users's id. */
  async function seedDueBurst(n: number): Promise<string> {
    const userId = `dispatch-${uuidv7()}`;
    const now = new Date();
    const schedules = Array.from({ length: n }, () =>
      aSchedule({ userId, cronExpression: '0 0 1 1 *', timezone: 'UTC', startedAt: null, nextRunAt: now }),
    );
    for (let i = 0; i < n; i += 50) await Promise.all(schedules.slice(i, i + 50).map((s) => storage.schedules.createSchedule(s)));
    return userId;
  }

  /** Every run of the user succeeded, was delivered at least once, and signed right. */
  async function assertEveryRunDelivered(userId: string, n: number): Promise<string[]> {
    const runs: Array<{ id: string; status: string }> = await dataSource.query(`SELECT id, status FROM runs WHERE user_id = $1`, [userId]);
    assert.equal(runs.length, n);
    assert.deepEqual(runs.filter((r) => r.status !== 'succeeded'), []);
    assert.deepEqual(runs.filter((r) => !runtime.deliveries.has(r.id)), [], 'a run was never delivered');
    assert.equal(runtime.badSignatures, 0);
    return runs.map((r) => r.id);
  }

  it('delivers each of 300 fires exactly once when no replica dies', async () => {
    const userId = await seedDueBurst(300);
    // The default 10 s attempt timeout: a busy machine delays an answer, it does not time it out
    // (a timed-out attempt is retried, and the runtime then sees the run twice: at least once).
    const started = [new Replica(db.url, dispatchEnv), new Replica(db.url, dispatchEnv), new Replica(db.url, dispatchEnv)];
    replicas.push(...started);
    await waitFor('every run to end', () => finalRuns(userId), (n) => n >= 300);
    for (const r of started) r.process.kill('SIGTERM');
    for (const r of started) {
      await r.exited;
      assert.doesNotMatch(r.output.join(''), LOGGED_ERROR, 'a replica logged an error');
    }
    const ids = await assertEveryRunDelivered(userId, 300);
    assert.deepEqual(ids.filter((id) => runtime.deliveries.get(id) !== 1), [], 'a run was delivered twice');
  });

  it('still ends every run when a replica is SIGKILLed mid-delivery; only then is a run delivered twice', async () => {
    const userId = await seedDueBurst(300);
    // A 2 s attempt timeout makes the lease of the killed replica's claims end after 5 s.
    const env = { ...dispatchEnv, DISPATCH_TIMEOUT_MS: '2000' };
    const [victim, ...survivors] = [new Replica(db.url, env), new Replica(db.url, env), new Replica(db.url, env)];
    replicas.push(victim, ...survivors);
    const delivered = () => count(`SELECT count(*) AS n FROM runs WHERE user_id = $1 AND status <> 'pending'`, [userId]);
    await waitFor('deliveries to start', delivered, (n) => n > 0);
    victim.process.kill('SIGKILL');
    assert.equal((await victim.exited).signal, 'SIGKILL');
    await waitFor('every run to end', () => finalRuns(userId), (n) => n >= 300);
    for (const r of survivors) r.process.kill('SIGTERM');
    for (const r of survivors) await r.exited;
    await assertEveryRunDelivered(userId, 300);
    for (const r of survivors) assert.doesNotMatch(r.output.join(''), LOGGED_ERROR, 'a survivor logged an error');
  });
});
