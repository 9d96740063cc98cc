import assert from 'node:assert/strict';
import { beforeAll, describe, it } from '@jest/globals';
import type { Response } from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { SchedulerService } from '../src/firing/scheduler.service.js';
import { aCreateBody } from './support/builders.js';
import { aRuntimeToken, type InjectedReply as Reply, injectJson, undeliveredDispatch } from './support/dispatch.js';
import { assertProblem } from './support/problem.js';
import { type BackendHandle, describeOnEveryBackend } from './support/test-app.js';

const RUNTIME_TOKEN = aRuntimeToken();
/** Fires are dispatched, but this process delivers nothing: a run stays active until reported or timed out. */
const DISPATCH = undeliveredDispatch();
const MINUTE = 60_000;

type Run = { id: string; status: string; session_id: string | null; timeout_at: string | null; [key: string]: unknown };

/** The user-side and runtime-side calls these tests make, through Fastify's inject. */
function client(backend: BackendHandle) {
  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, headers: Record<string, string>, body?: unknown) =>
    injectJson(backend.app, method, url, headers, body);
  const as = (userId: string) => ({ 'x-user-id': userId });
  return {
    call,
    async create(userId: string, overrides: Record<string, unknown> = {}): Promise<string> {
      const res = await call('POST', '/schedule', as(userId), aCreateBody(overrides));
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.schedule_id;
    },
    runNow: (userId: string, scheduleId: string) => call('POST', `/schedule/${scheduleId}/run`, as(userId)),
    /** A manual fire that must be accepted: its run. */
    async fired(userId: string, scheduleId: string): Promise<Run> {
      const res = await call('POST', `/schedule/${scheduleId}/run`, as(userId));
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal(res.body.run.session_id, res.body.session_id);
      return res.body.run;
    },
    patch: (userId: string, scheduleId: string, body: unknown) => call('PATCH', `/schedule/${scheduleId}`, as(userId), body),
    get: async (userId: string, scheduleId: string) => (await call('GET', `/schedule/${scheduleId}`, as(userId))).body,
    runs: async (userId: string, scheduleId: string): Promise<Run[]> => (await call('GET', `/schedule/${scheduleId}/runs`, as(userId))).body.runs,
    run: async (userId: string, scheduleId: string, runId: string): Promise<Run> =>
      (await call('GET', `/schedule/${scheduleId}/runs/${runId}`, as(userId))).body,
    sessionCount: async (userId: string, scheduleId: string): Promise<number> =>
      (await call('GET', `/schedule/${scheduleId}/sessions`, as(userId))).body.total,
    report: (runId: string, status: string) =>
      call('POST', `/runtime/runs/${runId}/status`, { authorization: `Bearer ${RUNTIME_TOKEN}` }, { status }),
  };
}

const problem = (res: Reply, status: number) => assertProblem(res as unknown as Response, status);
const newUser = () => `user-${uuidv7()}`;
const plus = (at: Date, ms: number) => new Date(at.getTime() + ms).toISOString();

/** A 409 naming the run that blocks the fire, in `detail` and in `active_run_id`. */
function assertBusy(res: Reply, activeRunId: string): void {
  problem(res, 409);
  assert.equal(res.body.type, 'urn:schedule-service:problem:schedule-busy');
  assert.equal(res.body.active_run_id, activeRunId);
  assert.ok(res.body.detail.includes(activeRunId), res.body.detail);
}

describeOnEveryBackend(
  'overlap policy',
  (backend) => {
    const { clock } = backend;
    const api = client(backend);
    let scheduler: SchedulerService;
    beforeAll(() => {
      scheduler = backend.app.get(SchedulerService);
    });

    describe('the schedule fields', () => {
      it('default to skip, 3600 s and no history limit, and are returned as set', async () => {
        const userId = newUser();
        const plain = await api.create(userId);
        const data = (await api.get(userId, plain)).data;
        assert.equal(data.overlap_policy, 'skip');
        assert.equal(data.run_timeout_seconds, 3600);
        assert.equal(data.history_limit, null);
        const fields = { overlap_policy: 'buffer_one', run_timeout_seconds: 604_800, history_limit: 100_000 };
        const set = (await api.get(userId, await api.create(userId, fields))).data;
        assert.deepEqual({ ...set, ...fields }, set);
      });

      it('change with PATCH; a null history_limit keeps everything again', async () => {
        const userId = newUser();
        const id = await api.create(userId, { history_limit: 10 });
        const res = await api.patch(userId, id, { overlap_policy: 'allow', run_timeout_seconds: 1 });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.data.overlap_policy, 'allow');
        assert.equal(res.body.data.run_timeout_seconds, 1);
        assert.equal(res.body.data.history_limit, 10);
        const cleared = await api.patch(userId, id, { history_limit: null });
        assert.equal(cleared.status, 200);
        assert.equal(cleared.body.data.history_limit, null);
        assert.equal(cleared.body.data.overlap_policy, 'allow');
      });

      const invalid: Array<[string, Record<string, unknown>, string]> = [
        ['an unknown overlap policy', { overlap_policy: 'sometimes' }, 'overlap_policy'],
        ['a run timeout of 0', { run_timeout_seconds: 0 }, 'run_timeout_seconds'],
        ['a run timeout over a week', { run_timeout_seconds: 604_801 }, 'run_timeout_seconds'],
        ['a fractional run timeout', { run_timeout_seconds: 1.5 }, 'run_timeout_seconds'],
        ['a history limit of 0', { history_limit: 0 }, 'history_limit'],
        ['a history limit over 100000', { history_limit: 100_001 }, 'history_limit'],
        ['a history limit that is a string', { history_limit: '10' }, 'history_limit'],
        ['stateful with allow', { stateful: true, overlap_policy: 'allow' }, 'overlap_policy'],
      ];
      for (const [what, fields, field] of invalid) {
        it(`refuse ${what} with 422 naming ${field}, on create and on PATCH`, async () => {
          const userId = newUser();
          const created = await api.call('POST', '/schedule', { 'x-user-id': userId }, aCreateBody(fields));
          problem(created, 422);
          assert.ok(created.body.errors.some((e: { field: string }) => e.field === field), JSON.stringify(created.body.errors));
          assert.equal((await api.call('GET', '/schedule', { 'x-user-id': userId })).body.total, 0);
          const id = await api.create(userId);
          const before = await api.get(userId, id);
          const patched = await api.patch(userId, id, fields);
          problem(patched, 422);
          assert.ok(patched.body.errors.some((e: { field: string }) => e.field === field), JSON.stringify(patched.body.errors));
          assert.deepEqual(await api.get(userId, id), before);
        });
      }

      it('refuse null for overlap_policy and run_timeout_seconds on PATCH', async () => {
        const userId = newUser();
        const id = await api.create(userId);
        for (const field of ['overlap_policy', 'run_timeout_seconds']) {
          const res = await api.patch(userId, id, { [field]: null });
          problem(res, 422);
          assert.ok(res.body.errors.some((e: { field: string }) => e.field === field));
        }
      });

      it('refuse stateful with allow on the merged record of a PATCH, from either side', async () => {
        const userId = newUser();
        const stateful = await api.create(userId, { stateful: true });
        const allowing = await api.create(userId, { overlap_policy: 'allow' });
        for (const [id, patch] of [
          [stateful, { overlap_policy: 'allow' }],
          [allowing, { stateful: true }],
        ] as const) {
          const before = await api.get(userId, id);
          const res = await api.patch(userId, id, patch);
          problem(res, 422);
          assert.ok(res.body.errors.some((e: { field: string }) => e.field === 'overlap_policy'));
          assert.deepEqual(await api.get(userId, id), before);
        }
        // Changed together, it is fine.
        const res = await api.patch(userId, allowing, { stateful: true, overlap_policy: 'buffer_one' });
        assert.equal(res.status, 200, JSON.stringify(res.body));
      });
    });

    describe('POST /schedule/{id}/run', () => {
      it('skip: a second run while the first is active is 409 naming it, and writes nothing', async () => {
        const userId = newUser();
        const id = await api.create(userId);
        const first = await api.fired(userId, id);
        assert.equal(first.status, 'pending');
        assert.equal(first.trigger, 'manual');
        assert.equal(first.fired_at, clock.now().toISOString());
        assert.equal(first.timeout_at, plus(clock.now(), 3600_000));
        assert.equal(first.finished_at, null);
        clock.advance(1000);
        assertBusy(await api.runNow(userId, id), first.id);
        assert.equal(await api.sessionCount(userId, id), 1);
        assert.deepEqual((await api.runs(userId, id)).map((r) => r.id), [first.id]);
        assert.equal((await api.get(userId, id)).last_run_at, first.fired_at);

        // Once the runtime reports it ended, the schedule fires again.
        assert.equal((await api.report(first.id, 'running')).status, 200);
        assertBusy(await api.runNow(userId, id), first.id);
        assert.equal((await api.report(first.id, 'failed')).status, 200);
        const second = await api.fired(userId, id);
        assert.equal(second.status, 'pending');
        assert.equal(await api.sessionCount(userId, id), 2);
      });

      it('buffer_one: the second run waits, the third is 409, and the waiting one is released when the first ends', async () => {
        const userId = newUser();
        const id = await api.create(userId, { overlap_policy: 'buffer_one', run_timeout_seconds: 600 });
        const first = await api.fired(userId, id);
        assert.equal(first.timeout_at, plus(clock.now(), 600_000));
        clock.advance(1000);
        const waiting = await api.fired(userId, id);
        assert.equal(waiting.status, 'pending');
        assert.equal(waiting.timeout_at, null, 'a waiting run has no timeout yet');
        assert.ok(waiting.session_id);
        clock.advance(1000);
        assertBusy(await api.runNow(userId, id), first.id);
        assert.equal(await api.sessionCount(userId, id), 2);
        assert.equal((await api.runs(userId, id)).length, 2);

        clock.advance(1000);
        const endedAt = clock.now();
        assert.equal((await api.report(first.id, 'succeeded')).status, 200);
        const released = await api.run(userId, id, waiting.id);
        assert.equal(released.status, 'pending');
        assert.equal(released.timeout_at, plus(endedAt, 600_000));

        // The released run is the active one now: the next fire waits behind it.
        clock.advance(1000);
        const next = await api.fired(userId, id);
        assert.equal(next.timeout_at, null);
        assertBusy(await api.runNow(userId, id), waiting.id);
      });

      it('allow: always fires', async () => {
        const userId = newUser();
        const id = await api.create(userId, { overlap_policy: 'allow' });
        const runs: Run[] = [];
        for (let i = 0; i < 3; i++) {
          runs.push(await api.fired(userId, id));
          clock.advance(1000);
        }
        assert.ok(runs.every((r) => r.status === 'pending' && r.timeout_at !== null));
        assert.equal(new Set(runs.map((r) => r.id)).size, 3);
        assert.equal(await api.sessionCount(userId, id), 3);
      });

      it('a disabled schedule is still 409 as before, not a busy one', async () => {
        const userId = newUser();
        const id = await api.create(userId, { enabled: false });
        const res = await api.runNow(userId, id);
        problem(res, 409);
        assert.equal(res.body.type, 'urn:schedule-service:problem:schedule-disabled');
        assert.equal(res.body.active_run_id, undefined);
      });
    });

    describe('run_timeout_seconds', () => {
      it('ends a run without a final status as timed_out, which frees the slot', async () => {
        const userId = newUser();
        const id = await api.create(userId, { run_timeout_seconds: 30 });
        const first = await api.fired(userId, id);
        clock.advance(29_999);
        await scheduler.tick();
        assertBusy(await api.runNow(userId, id), first.id);

        clock.advance(1);
        await scheduler.tick();
        const timedOut = await api.run(userId, id, first.id);
        assert.equal(timedOut.status, 'timed_out');
        assert.equal(timedOut.finished_at, clock.now().toISOString());
        assert.ok(timedOut.error, 'a timed-out run says why');
        assert.equal((await api.report(first.id, 'succeeded')).status, 409);

        const second = await api.fired(userId, id);
        assert.equal(second.status, 'pending');
      });

      it('releases the waiting run of buffer_one when the active one times out', async () => {
        const userId = newUser();
        const id = await api.create(userId, { overlap_policy: 'buffer_one', run_timeout_seconds: 30 });
        const first = await api.fired(userId, id);
        const waiting = await api.fired(userId, id);
        clock.advance(30_000);
        await scheduler.tick();
        assert.equal((await api.run(userId, id, first.id)).status, 'timed_out');
        const released = await api.run(userId, id, waiting.id);
        assert.equal(released.status, 'pending');
        assert.equal(released.timeout_at, plus(clock.now(), 30_000));
      });
    });

    describe('cron fires', () => {
      // Ticks see every user's schedules: each test deletes its own at the end, so that later ticks leave them alone.
      async function tickAt(at: Date): Promise<void> {
        clock.set(at);
        await scheduler.tick();
      }
      const nextMinute = () => new Date(Math.floor(clock.now().getTime() / MINUTE + 1) * MINUTE);

      it('skip: a cron fire while a run is active writes a skipped run, no session, and advances', async () => {
        const userId = newUser();
        const id = await api.create(userId, { cron_expression: '* * * * *', timezone: 'UTC' });
        const t1 = nextMinute();
        await tickAt(t1);
        const [fired] = await api.runs(userId, id);
        assert.equal(fired.trigger, 'cron');
        assert.equal(fired.status, 'pending');

        const t2 = new Date(t1.getTime() + MINUTE);
        await tickAt(t2);
        const [skipped] = await api.runs(userId, id);
        assert.equal(skipped.status, 'skipped');
        assert.equal(skipped.scheduled_for, t2.toISOString());
        assert.equal(skipped.session_id, null);
        assert.equal(skipped.fired_at, null);
        assert.equal(skipped.timeout_at, null);
        assert.ok(String(skipped.error).includes(fired.id), String(skipped.error));
        assert.equal(await api.sessionCount(userId, id), 1);
        const schedule = await api.get(userId, id);
        assert.equal(schedule.last_run_at, t1.toISOString());
        assert.equal(schedule.next_run_at, plus(t2, MINUTE));
        assert.equal((await api.run(userId, id, fired.id)).status, 'pending');
        await api.call('DELETE', `/schedule/${id}`, { 'x-user-id': userId });
      });

      it('buffer_one: the next cron fire waits, the one after is skipped', async () => {
        const userId = newUser();
        const id = await api.create(userId, { cron_expression: '* * * * *', timezone: 'UTC', overlap_policy: 'buffer_one' });
        const t1 = nextMinute();
        await tickAt(t1);
        await tickAt(new Date(t1.getTime() + MINUTE));
        await tickAt(new Date(t1.getTime() + 2 * MINUTE));
        const [third, second, first] = await api.runs(userId, id);
        assert.deepEqual([first.status, second.status, third.status], ['pending', 'pending', 'skipped']);
        assert.notEqual(first.timeout_at, null);
        assert.equal(second.timeout_at, null, 'the waiting run has no timeout yet');
        assert.ok(String(third.error).includes(first.id));
        assert.equal(await api.sessionCount(userId, id), 2);
        await api.call('DELETE', `/schedule/${id}`, { 'x-user-id': userId });
      });
    });
  },
  { dispatch: DISPATCH, runtimeToken: RUNTIME_TOKEN },
);

describeOnEveryBackend('overlap policy in record-only mode', (backend) => {
  const { clock } = backend;
  const api = client(backend);

  for (const policy of ['skip', 'buffer_one', 'allow', 'replace']) {
    it(`${policy}: every run fires and succeeds at once (no run stays active)`, async () => {
      const userId = newUser();
      const id = await api.create(userId, { overlap_policy: policy });
      for (let i = 0; i < 3; i++) {
        const run = await api.fired(userId, id);
        assert.equal(run.status, 'succeeded');
        assert.equal(run.finished_at, run.fired_at);
        assert.equal(run.timeout_at, null);
        clock.advance(1000);
      }
      assert.equal(await api.sessionCount(userId, id), 3);
    });
  }

  it('has no runtime routes without a runtime token', async () => {
    problem(await api.report(uuidv7(), 'running'), 404);
  });
});
