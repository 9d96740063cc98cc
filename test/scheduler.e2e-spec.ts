import assert from 'node:assert/strict';
import { beforeAll, describe, it } from '@jest/globals';
import request from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { SchedulerService } from '../src/firing/scheduler.service.js';
import type { StorageBackend } from '../src/storage/storage-backend.js';
import { aCreateBody, aSchedule } from './support/builders.js';
import { appStorage, describeOnEveryBackend } from './support/test-app.js';

const MINUTE = 60_000;

// The firing engine, driven by the injected clock: every test sets the time and calls tick().
describeOnEveryBackend('firing', (backend) => {
  const { clock } = backend;
  let scheduler: SchedulerService;
  let storage: StorageBackend;
  beforeAll(() => {
    scheduler = backend.app.get(SchedulerService);
    storage = appStorage(backend.app);
  });
  const http = () => request(backend.app.getHttpServer());

  // Ticks see every user's schedules, so each test lives in its own stretch of time (stretches
  // only move forward) and deletes the schedules of the test before it.
  let userId = '';
  async function create(overrides: Record<string, unknown>): Promise<string> {
    const res = await http().post('/schedule').set('x-user-id', userId).send(aCreateBody(overrides)).expect(201);
    return res.body.schedule_id;
  }
  const get = async (id: string) => (await http().get(`/schedule/${id}`).set('x-user-id', userId).expect(200)).body;
  const runs = async (id: string) => (await http().get(`/schedule/${id}/runs`).set('x-user-id', userId).expect(200)).body;
  const sessions = async (id: string) =>
    (await http().get(`/schedule/${id}/sessions`).set('x-user-id', userId).expect(200)).body;
  async function tickAt(at: string | Date): Promise<void> {
    clock.set(at);
    await scheduler.tick();
  }
  /** Ticks every `stepMs` from `from` to `to`, as a running service would (coarser, same outcome). */
  async function tickThrough(from: string, to: string, stepMs: number): Promise<void> {
    for (let t = Date.parse(from); t <= Date.parse(to); t += stepMs) await tickAt(new Date(t));
  }
  /** A new user at a new time; the previous test's schedules are deleted so they stop firing. */
  async function startsIn(at: string): Promise<void> {
    if (userId) {
      for (const s of (await http().get('/schedule').set('x-user-id', userId)).body.schedules) {
        await http().delete(`/schedule/${s.id}`).set('x-user-id', userId).expect(204);
      }
    }
    userId = `user-${uuidv7()}`;
    clock.set(at);
  }

  describe('one-offs, intervals and jitter', () => {
    const patch = (id: string, body: Record<string, unknown>) => http().patch(`/schedule/${id}`).set('x-user-id', userId).send(body);
    const nextRuns = async (id: string) =>
      (await http().get(`/schedule/${id}/next-runs?count=3`).set('x-user-id', userId).expect(200)).body.next_runs.map((r: { utc: string }) => r.utc);

    it('fires a one-off once at its instant, then it is done (completed); a one-off in the past is refused', async () => {
      await startsIn('2027-02-01T08:00:00.000Z');
      const { cron_expression, ...body } = aCreateBody();
      const id = (await http().post('/schedule').set('x-user-id', userId).send({ ...body, at: '2027-02-01T10:00:00+01:00' }).expect(201)).body.schedule_id;
      const created = await get(id);
      assert.deepEqual([created.data.cron_expression, created.data.at, created.next_run_at], [null, '2027-02-01T09:00:00.000Z', '2027-02-01T09:00:00.000Z']);
      assert.deepEqual(await nextRuns(id), ['2027-02-01T09:00:00.000Z']);
      await tickAt('2027-02-01T09:00:00.000Z');
      const done = await get(id);
      assert.deepEqual([done.data.enabled, done.data.paused_reason, done.next_run_at, done.stats.fires], [false, 'completed', null, 1]);
      await tickAt('2027-02-02T09:00:00.000Z');
      assert.equal((await runs(id)).total, 1);
      // Enabled again, it needs an instant still ahead.
      assert.equal((await patch(id, { enabled: true })).status, 422);
      const again = await patch(id, { enabled: true, at: '2027-02-03T09:00:00Z' });
      assert.deepEqual([again.status, again.body.next_run_at, again.body.data.paused_reason], [200, '2027-02-03T09:00:00.000Z', null]);
      assert.equal((await http().post('/schedule').set('x-user-id', userId).send({ ...body, at: '2027-01-01T00:00:00Z' })).status, 422);
    });

    it('makes a one-off whose instant passed while the service was down done, as a catch-up fire or as missed', async () => {
      await startsIn('2027-02-05T08:00:00.000Z');
      const { cron_expression, ...body } = aCreateBody();
      const create = async (at: string) => (await http().post('/schedule').set('x-user-id', userId).send({ ...body, at, catchup_window_seconds: 300 }).expect(201)).body.schedule_id;
      const late = await create('2027-02-05T09:00:00Z');
      const missed = await create('2027-02-05T08:30:00Z');
      await tickAt('2027-02-05T09:02:00.000Z');
      assert.deepEqual((await runs(late)).runs.map((r: { status: string }) => r.status), ['succeeded']);
      assert.deepEqual((await runs(missed)).runs.map((r: { status: string }) => r.status), ['missed']);
      for (const id of [late, missed]) assert.equal((await get(id)).data.paused_reason, 'completed');
    });

    it('fires an interval from its anchor, switches kind on PATCH, and refuses two kinds at once', async () => {
      await startsIn('2027-03-01T00:00:00.000Z');
      const { cron_expression, ...body } = aCreateBody();
      const res = await http().post('/schedule').set('x-user-id', userId).send({ ...body, every_seconds: 5400, anchor_at: '2027-03-01T00:30:00Z' }).expect(201);
      const id = res.body.schedule_id;
      assert.deepEqual(await nextRuns(id), ['2027-03-01T00:30:00.000Z', '2027-03-01T02:00:00.000Z', '2027-03-01T03:30:00.000Z']);
      await tickThrough('2027-03-01T00:30:00.000Z', '2027-03-01T03:30:00.000Z', 15 * MINUTE);
      assert.deepEqual((await runs(id)).runs.map((r: { scheduled_for: string }) => r.scheduled_for).reverse(), [
        '2027-03-01T00:30:00.000Z',
        '2027-03-01T02:00:00.000Z',
        '2027-03-01T03:30:00.000Z',
      ]);
      const switched = await patch(id, { cron_expression: '0 12 * * *' });
      assert.deepEqual([switched.body.data.every_seconds, switched.body.data.anchor_at, switched.body.next_run_at], [null, null, '2027-03-01T04:00:00.000Z']); // noon in Asia/Shanghai
      assert.equal((await patch(id, { cron_expression: '0 12 * * *', every_seconds: 60 })).status, 422);
      assert.equal((await patch(id, { cron_expression: null })).status, 422);
      assert.equal((await patch(id, { anchor_at: '2027-03-01T00:00:00Z' })).status, 422);
      assert.equal((await patch(id, { every_seconds: 0 })).status, 422);
    });

    it('skips one fire time the user named: a skipped run (skip_reason user) instead of a fire, shown by next-runs; a skip taken back fires', async () => {
      await startsIn('2027-05-01T00:00:00.000Z');
      const id = await create({ cron_expression: '0 * * * *', timezone: 'UTC' });
      const skip = (at: string, method: 'post' | 'delete' = 'post') => http()[method](`/schedule/${id}/skip`).set('x-user-id', userId).send({ scheduled_for: at });
      assert.equal((await skip('2027-05-01T02:00:00Z')).status, 200);
      assert.equal((await skip('2027-05-01T03:00:00+00:00')).status, 200);
      assert.deepEqual(
        (await http().get(`/schedule/${id}/next-runs?count=3`).set('x-user-id', userId).expect(200)).body.next_runs.map((r: { skipped: boolean }) => r.skipped),
        [false, true, true],
      );
      assert.equal((await skip('2027-05-01T03:00:00Z', 'delete')).status, 200);
      assert.equal((await skip('2027-05-01T02:30:00Z')).status, 422); // not a fire time
      assert.equal((await skip('2027-04-30T23:00:00Z')).status, 422); // past
      await tickThrough('2027-05-01T01:00:00.000Z', '2027-05-01T03:00:00.000Z', 15 * MINUTE);
      const history = (await runs(id)).runs.reverse().map((r: { scheduled_for: string; status: string; skip_reason: string | null }) => [r.scheduled_for, r.status, r.skip_reason]);
      assert.deepEqual(history, [
        ['2027-05-01T01:00:00.000Z', 'succeeded', null],
        ['2027-05-01T02:00:00.000Z', 'skipped', 'user'],
        ['2027-05-01T03:00:00.000Z', 'succeeded', null],
      ]);
      assert.deepEqual((await get(id)).data.skipped_fire_times, []);
    });

    it('keeps at most 100 skipped fire times pending', async () => {
      await startsIn('2027-06-01T00:00:00.000Z');
      const id = await create({ cron_expression: '* * * * *', timezone: 'UTC' });
      const times = (await http().get(`/schedule/${id}/next-runs?count=100`).set('x-user-id', userId).expect(200)).body.next_runs.map((r: { utc: string }) => r.utc);
      for (const at of times) await http().post(`/schedule/${id}/skip`).set('x-user-id', userId).send({ scheduled_for: at }).expect(200);
      clock.set('2027-06-01T00:00:30.000Z');
      const extra = await http().get(`/schedule/${id}/next-runs?count=100`).set('x-user-id', userId).expect(200);
      assert.equal(extra.body.next_runs.every((r: { skipped: boolean }) => r.skipped), true);
      clock.set('2027-06-01T00:00:00.000Z');
      const late = new Date(Date.parse(times[99]) + 60_000).toISOString();
      assert.equal((await http().post(`/schedule/${id}/skip`).set('x-user-id', userId).send({ scheduled_for: late })).status, 422);
    });

    it('backfills the past fire times in a range that have no run, once, oldest first; lists them on a dry run; bounds the range', async () => {
      await startsIn('2027-07-01T00:30:00.000Z');
      const id = await create({ cron_expression: '0 * * * *', timezone: 'UTC', overlap_policy: 'skip' });
      const backfill = (body: Record<string, unknown>) => http().post(`/schedule/${id}/backfill`).set('x-user-id', userId).send(body);
      const range = { from: '2027-06-30T20:00:00Z', to: '2027-07-01T12:00:00Z' };
      const dry = await backfill({ ...range, dry_run: true });
      assert.equal(dry.status, 200, JSON.stringify(dry.body));
      const expected = ['2027-06-30T20:00:00.000Z', '2027-06-30T21:00:00.000Z', '2027-06-30T22:00:00.000Z', '2027-06-30T23:00:00.000Z', '2027-07-01T00:00:00.000Z'];
      assert.deepEqual(dry.body.slots.map((s: { scheduled_for: string }) => s.scheduled_for), expected);
      assert.equal((await runs(id)).total, 0);
      const done = await backfill(range);
      assert.deepEqual([done.body.fired, done.body.slots.map((s: { outcome: string }) => s.outcome)], [5, ['fired', 'fired', 'fired', 'fired', 'fired']]);
      const history = (await runs(id)).runs.reverse();
      assert.deepEqual(history.map((r: { trigger: string; scheduled_for: string }) => [r.trigger, r.scheduled_for]), expected.map((at) => ['backfill', at]));
      assert.deepEqual((await backfill(range)).body, { dry_run: false, slots: [], fired: 0 });
      const tooMany = await http().post(`/schedule/${await create({ cron_expression: '* * * * *', timezone: 'UTC' })}/backfill`).set('x-user-id', userId).send({ from: '2027-06-28T00:00:00Z', to: '2027-06-30T00:00:00Z' });
      assert.equal(tooMany.status, 422);
      assert.match(JSON.stringify(tooMany.body.errors), /holds 2881 past fire times/);
      assert.equal((await backfill({ from: '2027-07-01T00:00:00Z', to: '2027-06-30T00:00:00Z' })).status, 422);
    });

    it('jitters every fire time of a schedule by the same offset, which next-runs shows and the ticker fires at', async () => {
      await startsIn('2027-04-01T00:00:00.000Z');
      const id = await create({ cron_expression: '0 9 * * *', timezone: 'UTC', jitter_seconds: 600 });
      const [first, second] = (await nextRuns(id)).map((t: string) => Date.parse(t));
      const offset = first - Date.parse('2027-04-01T09:00:00.000Z');
      assert.ok(offset >= 0 && offset < 600_000, String(offset));
      assert.equal(second - Date.parse('2027-04-02T09:00:00.000Z'), offset);
      await tickAt(new Date(first - 1));
      assert.equal((await runs(id)).total, 0);
      await tickAt(new Date(first));
      assert.deepEqual((await runs(id)).runs.map((r: { scheduled_for: string }) => Date.parse(r.scheduled_for)), [first]);
    });
  });

  describe('cron in the schedule’s time zone', () => {
    it('fires 0 9 * * 1-5 in Asia/Shanghai at 09:00 local, Monday to Friday, once each', async () => {
      await startsIn('2026-11-26T00:00:00.000Z'); // Thursday
      const id = await create({ cron_expression: '0 9 * * 1-5', timezone: 'Asia/Shanghai' });
      assert.equal((await get(id)).next_run_at, '2026-11-26T01:00:00.000Z');
      await tickAt('2026-11-26T00:59:59.999Z');
      assert.equal((await sessions(id)).total, 0);
      // A week, ticking every 15 minutes.
      await tickThrough('2026-11-26T01:00:00.000Z', '2026-12-03T00:00:00.000Z', 15 * MINUTE);
      const history = (await runs(id)).runs.reverse();
      assert.deepEqual(
        history.map((r: { scheduled_for: string }) => r.scheduled_for),
        [
          '2026-11-26T01:00:00.000Z', // Thu
          '2026-11-27T01:00:00.000Z', // Fri
          '2026-11-30T01:00:00.000Z', // Mon
          '2026-12-01T01:00:00.000Z', // Tue
          '2026-12-02T01:00:00.000Z', // Wed
        ],
      );
      assert.ok(history.every((r: { trigger: string; status: string }) => r.trigger === 'cron' && r.status === 'succeeded'));
      assert.equal((await sessions(id)).total, 5);
      const schedule = await get(id);
      assert.equal(schedule.next_run_at, '2026-12-03T01:00:00.000Z');
      assert.equal(schedule.last_run_at, '2026-12-02T01:00:00.000Z');
    });

    it('reads day-of-week 0 and 7 as Sunday', async () => {
      await startsIn('2026-12-05T00:00:00.000Z'); // Saturday
      for (const cron of ['0 9 * * 0', '0 9 * * 7', '0 9 * * SUN']) {
        const id = await create({ cron_expression: cron, timezone: 'Europe/Berlin' });
        assert.equal((await get(id)).next_run_at, '2026-12-06T08:00:00.000Z', cron);
      }
    });

    it('lists upcoming fire times in UTC and local time', async () => {
      await startsIn('2026-12-10T00:00:00.000Z'); // Thursday
      const id = await create({ cron_expression: '0 9 * * 1-5', timezone: 'Asia/Shanghai' });
      const res = await http().get(`/schedule/${id}/next-runs?count=3`).set('x-user-id', userId).expect(200);
      assert.deepEqual(res.body, {
        schedule_id: id,
        timezone: 'Asia/Shanghai',
        next_runs: [
          { utc: '2026-12-10T01:00:00.000Z', local: '2026-12-10T09:00:00+08:00', skipped: false },
          { utc: '2026-12-11T01:00:00.000Z', local: '2026-12-11T09:00:00+08:00', skipped: false },
          { utc: '2026-12-14T01:00:00.000Z', local: '2026-12-14T09:00:00+08:00', skipped: false },
        ],
      });
      const five = await http().get(`/schedule/${id}/next-runs`).set('x-user-id', userId).expect(200);
      assert.equal(five.body.next_runs.length, 5);
      for (const count of ['0', '101', 'x']) {
        const bad = await http().get(`/schedule/${id}/next-runs?count=${count}`).set('x-user-id', userId);
        assert.equal(bad.status, 422);
        assert.equal(bad.body.errors[0].field, 'count');
      }
      await http().get(`/schedule/${id}/next-runs`).set('x-user-id', 'someone-else').expect(404);
      await http().get(`/schedule/${id}/runs`).set('x-user-id', 'someone-else').expect(404);
    });
  });

  describe('activation window and enabled', () => {
    it('fires only inside the window, both ends included, then stops', async () => {
      await startsIn('2026-12-20T00:00:00.000Z');
      const id = await create({
        cron_expression: '0 * * * *',
        timezone: 'UTC',
        started_at: '2026-12-20T03:00:00Z',
        ended_at: '2026-12-20T05:00:00Z',
      });
      assert.equal((await get(id)).next_run_at, '2026-12-20T03:00:00.000Z');
      await tickThrough('2026-12-20T00:00:00.000Z', '2026-12-20T08:00:00.000Z', 30 * MINUTE);
      assert.deepEqual(
        (await runs(id)).runs.map((r: { scheduled_for: string }) => r.scheduled_for),
        ['2026-12-20T05:00:00.000Z', '2026-12-20T04:00:00.000Z', '2026-12-20T03:00:00.000Z'],
      );
      assert.equal((await get(id)).next_run_at, null);
    });

    it('never fires while disabled, and resumes from now when enabled again', async () => {
      await startsIn('2026-12-21T00:00:00.000Z');
      const id = await create({ cron_expression: '0 * * * *', timezone: 'UTC', enabled: false });
      assert.equal((await get(id)).next_run_at, null);
      await tickThrough('2026-12-21T00:00:00.000Z', '2026-12-21T03:00:00.000Z', 30 * MINUTE);
      assert.equal((await runs(id)).total, 0);
      await http().patch(`/schedule/${id}`).set('x-user-id', userId).send({ enabled: true }).expect(200);
      assert.equal((await get(id)).next_run_at, '2026-12-21T04:00:00.000Z');
      await http().patch(`/schedule/${id}`).set('x-user-id', userId).send({ cron_expression: '30 * * * *' }).expect(200);
      assert.equal((await get(id)).next_run_at, '2026-12-21T03:30:00.000Z');
      await http().patch(`/schedule/${id}`).set('x-user-id', userId).send({ name: 'renamed' }).expect(200);
      assert.equal((await get(id)).next_run_at, '2026-12-21T03:30:00.000Z');
      await tickAt('2026-12-21T03:30:00.000Z');
      assert.equal((await runs(id)).total, 1);
    });
  });

  describe('sessions', () => {
    it('gives each cron fire a fresh session, and a stateful schedule one session it appends to', async () => {
      await startsIn('2026-12-22T00:00:00.000Z');
      const fresh = await create({ cron_expression: '0 * * * *', timezone: 'UTC' });
      const stateful = await create({ cron_expression: '0 * * * *', timezone: 'UTC', stateful: true });
      await tickThrough('2026-12-22T01:00:00.000Z', '2026-12-22T03:00:00.000Z', 60 * MINUTE);
      const freshSessions = await sessions(fresh);
      assert.equal(freshSessions.total, 3);
      assert.deepEqual(
        freshSessions.sessions.map((s: { created_at: string }) => s.created_at),
        ['2026-12-22T03:00:00.000Z', '2026-12-22T02:00:00.000Z', '2026-12-22T01:00:00.000Z'],
      );
      const statefulSessions = await sessions(stateful);
      assert.equal(statefulSessions.total, 1);
      assert.equal(statefulSessions.sessions[0].id, `${stateful}_stateful`);
      assert.equal(statefulSessions.sessions[0].state.context.length, 3);
      const history = (await runs(stateful)).runs;
      assert.ok(history.every((r: { session_id: string }) => r.session_id === `${stateful}_stateful`));
    });

    it('records a manual run in the history', async () => {
      await startsIn('2026-12-23T00:00:00.000Z');
      const id = await create({ cron_expression: '0 0 1 1 *', timezone: 'UTC' });
      clock.set('2026-12-23T10:00:00.000Z');
      const fired = await http().post(`/schedule/${id}/run`).set('x-user-id', userId).expect(202);
      assert.deepEqual((await runs(id)).runs, [
        {
          id: (await runs(id)).runs[0].id,
          schedule_id: id,
          session_id: fired.body.session_id,
          trigger: 'manual',
          scheduled_for: '2026-12-23T10:00:00.000Z',
          fired_at: '2026-12-23T10:00:00.000Z',
          status: 'succeeded',
          error: null,
          skip_reason: null,
          // Record-only mode: the run ends as it fires, and nothing waits for it.
          finished_at: '2026-12-23T10:00:00.000Z',
          timeout_at: null,
          // No runtime, so nothing reports what it consumed.
          usage: null,
          overrides: null,
          replay_of: null,
        },
      ]);
      const schedule = await get(id);
      assert.equal(schedule.last_run_at, '2026-12-23T10:00:00.000Z');
      assert.equal(schedule.next_run_at, '2027-01-01T00:00:00.000Z');
    });
  });

  describe('catch-up after downtime', () => {
    it('coalesces the fires inside the window into one and records the older ones as missed', async () => {
      await startsIn('2027-01-05T00:00:00.000Z');
      const id = await create({ cron_expression: '* * * * *', timezone: 'UTC', catchup_window_seconds: 300 });
      await tickAt('2027-01-05T00:01:00.000Z');
      // Down from 00:01:00 to 00:11:30: due 00:02 … 00:11; the window reaches back to 00:06:30.
      await tickAt('2027-01-05T00:11:30.000Z');
      const history = (await runs(id)).runs;
      const [latest, ...rest] = history;
      assert.equal(latest.trigger, 'catchup');
      assert.equal(latest.status, 'succeeded');
      assert.equal(latest.scheduled_for, '2027-01-05T00:11:00.000Z');
      assert.equal(latest.fired_at, '2027-01-05T00:11:30.000Z');
      const missed = rest.filter((r: { status: string }) => r.status === 'missed');
      assert.deepEqual(
        missed.map((r: { scheduled_for: string }) => r.scheduled_for.slice(11, 16)),
        ['00:06', '00:05', '00:04', '00:03', '00:02'],
      );
      assert.ok(missed.every((r: { session_id: null; fired_at: null }) => r.session_id === null && r.fired_at === null));
      assert.equal(rest.length, missed.length + 1); // plus the 00:01 fire before the outage
      assert.equal((await sessions(id)).total, 2);
      assert.equal((await get(id)).next_run_at, '2027-01-05T00:12:00.000Z');
    });

    it('fires a single late fire time inside the window as a plain cron fire', async () => {
      await startsIn('2027-01-06T00:00:00.000Z');
      const id = await create({ cron_expression: '0 * * * *', timezone: 'UTC' });
      await tickAt('2027-01-06T01:04:00.000Z');
      const [run] = (await runs(id)).runs;
      assert.equal(run.trigger, 'cron');
      assert.equal(run.scheduled_for, '2027-01-06T01:00:00.000Z');
      assert.equal(run.fired_at, '2027-01-06T01:04:00.000Z');
    });

    it('fires nothing when every missed time is older than the window', async () => {
      await startsIn('2027-01-07T00:00:00.000Z');
      const id = await create({ cron_expression: '0 * * * *', timezone: 'UTC', catchup_window_seconds: 60 });
      await tickAt('2027-01-07T03:10:00.000Z');
      const history = (await runs(id)).runs;
      assert.deepEqual(
        history.map((r: { scheduled_for: string; status: string }) => [r.scheduled_for, r.status]),
        [
          ['2027-01-07T03:00:00.000Z', 'missed'],
          ['2027-01-07T02:00:00.000Z', 'missed'],
          ['2027-01-07T01:00:00.000Z', 'missed'],
        ],
      );
      assert.equal((await sessions(id)).total, 0);
      assert.equal((await get(id)).next_run_at, '2027-01-07T04:00:00.000Z');
    });

    it('bounds the missed records of a very long outage', async () => {
      await startsIn('2027-01-08T00:00:00.000Z');
      const id = await create({ cron_expression: '* * * * * *', timezone: 'UTC', catchup_window_seconds: 10 });
      await tickAt('2027-01-08T06:00:00.000Z'); // six hours of every-second fires
      const history = (await runs(id)).runs;
      const missed = history.filter((r: { status: string }) => r.status === 'missed');
      assert.equal(missed.length, 100);
      assert.match(missed[0].error, /not listed/);
      assert.equal(history[0].trigger, 'catchup');
      assert.equal(history[0].scheduled_for, '2027-01-08T06:00:00.000Z');
      assert.equal((await sessions(id)).total, 1);
    });
  });

  describe('daylight saving time', () => {
    const cases: Array<[string, string, string, string[]]> = [
      // zone, cron, day (UTC midnight before), expected fire instants that day
      // 02:30 does not exist (02:00 → 03:00): once, at the next valid instant, 03:00 EDT
      ['America/New_York', '30 2 * * *', '2027-03-14', ['2027-03-14T07:00:00.000Z']],
      // 01:30 happens twice (EDT, then EST): once, at the first
      ['America/New_York', '30 1 * * *', '2027-11-07', ['2027-11-07T05:30:00.000Z']],
      ['Europe/Berlin', '30 2 * * *', '2027-03-28', ['2027-03-28T01:00:00.000Z']], // 03:00 CEST
      ['Europe/Berlin', '30 2 * * *', '2027-10-31', ['2027-10-31T00:30:00.000Z']], // 02:30 CEST, not CET
    ];
    for (const [zone, cron, day, expected] of cases) {
      it(`${zone} ${cron} on ${day} fires once`, async () => {
        await startsIn(`${day}T00:00:00.000Z`);
        const id = await create({ cron_expression: cron, timezone: zone, catchup_window_seconds: 60 });
        await tickThrough(`${day}T00:00:00.000Z`, `${day}T12:00:00.000Z`, 10 * MINUTE);
        const fired = (await runs(id)).runs.map((r: { scheduled_for: string; status: string }) => {
          assert.equal(r.status, 'succeeded');
          return r.scheduled_for;
        });
        assert.deepEqual(fired, expected);
      });
    }
  });

  describe('bad rows and failures', () => {
    it('records a schedule whose fire times cannot be computed as failed, parks it, and fires the rest', async () => {
      await startsIn('2027-02-01T00:00:00.000Z');
      const broken = aSchedule({
        userId,
        cronExpression: 'not a cron',
        nextRunAt: new Date('2027-02-01T00:30:00.000Z'),
      });
      await storage.schedules.createSchedule(broken);
      const healthy = await create({ cron_expression: '0 * * * *', timezone: 'UTC' });
      await tickAt('2027-02-01T01:00:00.000Z');
      const [failed] = await storage.history.listRunsBySchedule(userId, broken.id);
      assert.equal(failed.status, 'failed');
      assert.match(failed.error!, /cannot compute/);
      assert.equal((await storage.schedules.getSchedule(userId, broken.id))!.nextRunAt, null);
      assert.equal((await runs(healthy)).runs[0].status, 'succeeded');
      // The parked row stays parked, and start-up rescheduling logs and skips it.
      await scheduler.rescheduleUnplanned();
      assert.equal((await storage.schedules.getSchedule(userId, broken.id))!.nextRunAt, null);
      await tickAt('2027-02-01T02:00:00.000Z');
      assert.equal((await storage.history.listRunsBySchedule(userId, broken.id)).length, 1);
    });

    it('survives a fire the database refuses, and keeps firing', async () => {
      await startsIn('2027-02-02T00:00:00.000Z');
      const id = await create({ cron_expression: '0 * * * *', timezone: 'UTC' });
      const schedule = (await storage.schedules.getSchedule(userId, id))!;
      // A run already exists for the 01:00 fire (as if written by a buggy claimer).
      const { fireWrite } = await import('../src/domain/fire.js');
      const slot = new Date('2027-02-02T01:00:00.000Z');
      await storage.firing.recordFire(fireWrite(schedule, slot, 'cron', slot));
      await tickAt('2027-02-02T01:00:30.000Z');
      await tickAt('2027-02-02T02:00:00.000Z');
      const history = (await runs(id)).runs;
      assert.deepEqual(
        history.map((r: { scheduled_for: string; status: string }) => [r.scheduled_for.slice(11, 16), r.status]),
        [
          ['02:00', 'succeeded'],
          ['01:00', 'succeeded'],
        ],
      );
      assert.equal((await sessions(id)).total, 2);
    });

    it('gives enabled schedules without a next run one at start-up', async () => {
      await startsIn('2027-02-03T00:00:00.000Z');
      const legacy = aSchedule({ userId, cronExpression: '0 12 * * *', timezone: 'UTC', nextRunAt: null });
      await storage.schedules.createSchedule(legacy);
      await scheduler.rescheduleUnplanned();
      assert.equal(
        (await storage.schedules.getSchedule(userId, legacy.id))!.nextRunAt!.toISOString(),
        '2027-02-03T12:00:00.000Z',
      );
    });
  });
});
