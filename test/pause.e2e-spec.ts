import assert from 'node:assert/strict';
import { it } from '@jest/globals';
import type { Response } from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { aCreateBody } from './support/builders.js';
import { aRuntimeToken, type InjectedReply as Reply, injectJson, undeliveredDispatch } from './support/dispatch.js';
import { assertProblem } from './support/problem.js';
import { type BackendHandle, describeOnEveryBackend } from './support/test-app.js';

/*
 * Why a schedule does not fire, through the API: the user's pause and its note, the failure
 * policy (pause_after_failures) as runs end through the runtime's reports, and a window that
 * closed. Every backend; fires are dispatched but never delivered, so runs end only as reported.
 */

const RUNTIME_TOKEN = aRuntimeToken();

describeOnEveryBackend(
  'pausing a schedule',
  (backend: BackendHandle) => {
    const call = (method: 'GET' | 'POST' | 'PATCH', url: string, body?: unknown, headers: Record<string, string> = {}) =>
      injectJson(backend.app, method, url, { 'x-user-id': user, ...headers }, body);
    const report = (runId: string, body: unknown) =>
      injectJson(backend.app, 'POST', `/runtime/runs/${runId}/status`, { authorization: `Bearer ${RUNTIME_TOKEN}` }, body);
    let user: string;
    const problem = (res: Reply, status: number) => assertProblem(res as unknown as Response, status);
    const invalidField = (res: Reply, field: string) => {
      problem(res, 422);
      assert.ok(res.body.errors.some((e: { field: string }) => e.field === field), JSON.stringify(res.body.errors));
    };

    async function create(overrides: Record<string, unknown> = {}): Promise<string> {
      user = `user-${uuidv7()}`;
      const res = await call('POST', '/schedule', aCreateBody(overrides));
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.schedule_id;
    }
    const get = async (id: string) => {
      const res = await call('GET', `/schedule/${id}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res;
    };
    async function failedRun(id: string): Promise<void> {
      const fired = await call('POST', `/schedule/${id}/run`);
      assert.equal(fired.status, 202, JSON.stringify(fired.body));
      assert.equal((await report(fired.body.run.id, { status: 'failed', error: 'the tool crashed' })).status, 200);
    }

    it('shows a schedule that fires with no pause, and takes pause_after_failures on create and PATCH', async () => {
      const id = await create({ pause_after_failures: 3 });
      const { data, next_run_at } = (await get(id)).body;
      assert.equal(data.pause_after_failures, 3);
      assert.equal(data.paused_reason, null);
      assert.equal(data.pause_note, null);
      assert.notEqual(next_run_at, null);
      const patched = await call('PATCH', `/schedule/${id}`, { pause_after_failures: null });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.equal(patched.body.data.pause_after_failures, null);
      for (const bad of [0, 101, 1.5, '3', true]) invalidField(await call('PATCH', `/schedule/${id}`, { pause_after_failures: bad }), 'pause_after_failures');
    });

    it("pauses for the user with a note, rewrites the note while paused, refuses a note on a schedule that fires, and clears both on enabling", async () => {
      const id = await create();
      invalidField(await call('PATCH', `/schedule/${id}`, { pause_note: 'not paused' }), 'pause_note');
      invalidField(await call('PATCH', `/schedule/${id}`, { enabled: false, pause_note: 'x'.repeat(1001) }), 'pause_note');
      const paused = await call('PATCH', `/schedule/${id}`, { enabled: false, pause_note: 'Until the API migration is done.' });
      assert.equal(paused.status, 200, JSON.stringify(paused.body));
      assert.deepEqual([paused.body.data.paused_reason, paused.body.data.pause_note, paused.body.next_run_at], ['user', 'Until the API migration is done.', null]);
      const renoted = await call('PATCH', `/schedule/${id}`, { pause_note: 'Until Monday.' });
      assert.equal(renoted.body.data.pause_note, 'Until Monday.');
      invalidField(await call('PATCH', `/schedule/${id}`, { enabled: true, pause_note: 'x' }), 'pause_note');
      const resumed = await call('PATCH', `/schedule/${id}`, { enabled: true });
      assert.deepEqual([resumed.body.data.paused_reason, resumed.body.data.pause_note], [null, null]);
      assert.notEqual(resumed.body.next_run_at, null);
    });

    it('creates a schedule paused by the user, with its note; a note without enabled: false is refused', async () => {
      const id = await create({ enabled: false, pause_note: 'Set up for next quarter.' });
      const { data } = (await get(id)).body;
      assert.deepEqual([data.enabled, data.paused_reason, data.pause_note], [false, 'user', 'Set up for next quarter.']);
      user = `user-${uuidv7()}`;
      invalidField(await call('POST', '/schedule', aCreateBody({ pause_note: 'x' })), 'pause_note');
    });

    it('pauses a schedule whose runs fail pause_after_failures times in a row: disabled, a new ETag, POST /run refused; enabling counts again from zero', async () => {
      const id = await create({ pause_after_failures: 2, overlap_policy: 'allow' });
      const before = await get(id);
      await failedRun(id);
      assert.equal((await get(id)).body.data.enabled, true);
      await failedRun(id);
      const paused = await get(id);
      assert.deepEqual([paused.body.data.enabled, paused.body.data.paused_reason, paused.body.next_run_at], [false, 'consecutive_failures', null]);
      assert.notEqual(paused.headers.etag, before.headers.etag);
      problem(await call('POST', `/schedule/${id}/run`), 409);

      const resumed = await call('PATCH', `/schedule/${id}`, { enabled: true }, { 'if-match': String(paused.headers.etag) });
      assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
      assert.equal(resumed.body.data.paused_reason, null);
      // The count started again: one more failure does not pause it.
      await failedRun(id);
      assert.equal((await get(id)).body.data.enabled, true);
    });

    it('is done after max_runs fires (POST /run counts): disabled with max_runs_reached, no next fire, POST /run refused', async () => {
      const id = await create({ max_runs: 2, overlap_policy: 'allow' });
      for (const bad of [0, 1_000_001, 1.5, '2']) invalidField(await call('PATCH', `/schedule/${id}`, { max_runs: bad }), 'max_runs');
      assert.equal((await call('POST', `/schedule/${id}/run`)).status, 202);
      assert.equal((await get(id)).body.data.enabled, true);
      assert.equal((await call('POST', `/schedule/${id}/run`)).status, 202);
      const done = (await get(id)).body;
      assert.deepEqual([done.data.enabled, done.data.paused_reason, done.data.max_runs, done.next_run_at], [false, 'max_runs_reached', 2, null]);
      problem(await call('POST', `/schedule/${id}/run`), 409);
      // Enabled again without raising max_runs, it is still done; raised, it fires again.
      assert.equal((await call('PATCH', `/schedule/${id}`, { enabled: true })).body.data.paused_reason, 'max_runs_reached');
      const raised = await call('PATCH', `/schedule/${id}`, { enabled: true, max_runs: 3 });
      assert.deepEqual([raised.body.data.enabled, raised.body.data.paused_reason], [true, null]);
      assert.equal((await call('POST', `/schedule/${id}/run`)).status, 202);
      assert.equal((await get(id)).body.data.paused_reason, 'max_runs_reached');
    });

    it('is done at once when max_runs is lowered to the fires so far', async () => {
      const id = await create();
      assert.equal((await call('POST', `/schedule/${id}/run`)).status, 202);
      const lowered = await call('PATCH', `/schedule/${id}`, { max_runs: 1 });
      assert.equal(lowered.status, 200, JSON.stringify(lowered.body));
      assert.deepEqual([lowered.body.data.enabled, lowered.body.data.paused_reason, lowered.body.next_run_at], [false, 'max_runs_reached', null]);
    });

    it('says ended for an enabled schedule whose activation window has closed', async () => {
      const id = await create({ started_at: '2020-01-01T00:00:00Z', ended_at: '2020-12-31T00:00:00Z' });
      const { data, next_run_at } = (await get(id)).body;
      assert.deepEqual([data.enabled, next_run_at, data.paused_reason], [true, null, 'ended']);
    });
  },
  { dispatch: undeliveredDispatch(), runtimeToken: RUNTIME_TOKEN },
);
