import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import type { Response } from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { aCreateBody } from './support/builders.js';
import { type InjectedReply as Reply, injectJson } from './support/dispatch.js';
import { assertProblem } from './support/problem.js';
import { type BackendHandle, describeOnEveryBackend } from './support/test-app.js';

/*
 * Single runs under the user's hand, through the API on every backend (record-only: each fire is
 * written and succeeded at once): a run with overrides, a replay.
 */

describeOnEveryBackend('runs under the user’s hand', (backend: BackendHandle) => {
  let user: string;
  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = {}) =>
    injectJson(backend.app, method, url, { 'x-user-id': user, ...headers }, body);
  const problem = (res: Reply, status: number) => assertProblem(res as unknown as Response, status);
  async function create(overrides: Record<string, unknown> = {}): Promise<string> {
    user = `user-${uuidv7()}`;
    const res = await call('POST', '/schedule', aCreateBody({ overlap_policy: 'allow', ...overrides }));
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.schedule_id;
  }
  const prompt = (session: { state: { context: Array<{ content: Array<{ text: string }> }> } }) => session.state.context.at(-1)!.content[0].text;

  describe('a run with overrides', () => {
    it('fires this run with another task, model and permission mode; the schedule and its ETag stay', async () => {
      const id = await create({ description: 'The usual.' });
      const etag = (await call('GET', `/schedule/${id}`)).headers.etag;
      const model = { type: 'anthropic', credential_id: 'cred-2', model: 'claude-x', parameters: { temperature: 0 } };
      const fired = await call('POST', `/schedule/${id}/run`, { description: 'Only the urgent ones.', chat_model_config: model, permission_mode: 'default' });
      assert.equal(fired.status, 202, JSON.stringify(fired.body));
      assert.deepEqual(fired.body.run.overrides, { description: 'Only the urgent ones.', chat_model_config: model, permission_mode: 'default' });
      const [session] = (await call('GET', `/schedule/${id}/sessions`)).body.sessions;
      assert.equal(prompt(session), '<scheduled-task>\nOnly the urgent ones.\n</scheduled-task>');
      assert.deepEqual([session.config.chat_model_config, session.state.permission_context.mode], [model, 'default']);
      const after = await call('GET', `/schedule/${id}`);
      assert.deepEqual([after.headers.etag, after.body.data.description], [etag, 'The usual.']);
      // Without a body, or with an empty one, it is a plain manual run.
      assert.equal((await call('POST', `/schedule/${id}/run`)).body.run.overrides, null);
      assert.equal((await call('POST', `/schedule/${id}/run`, {})).body.run.overrides, null);
    });

    it('appends the overridden prompt to a stateful schedule’s one session', async () => {
      const id = await create({ stateful: true, overlap_policy: 'skip', description: 'Usual.' });
      assert.equal((await call('POST', `/schedule/${id}/run`, { description: 'Different.' })).status, 202);
      const [session] = (await call('GET', `/schedule/${id}/sessions`)).body.sessions;
      assert.equal(prompt(session), '<scheduled-task>\nDifferent.\n</scheduled-task>');
    });

    it('refuses overrides that are not valid, naming the field', async () => {
      const id = await create();
      for (const [body, field] of [
        [{ permission_mode: 'yolo' }, 'permission_mode'],
        [{ description: 7 }, 'description'],
        [{ chat_model_config: { type: 'x' } }, 'chat_model_config.model'],
        [{ cron_expression: '* * * * *' }, 'cron_expression'],
      ] as const) {
        const res = await call('POST', `/schedule/${id}/run`, body);
        problem(res, 422);
        assert.ok(res.body.errors.some((e: { field: string }) => e.field.startsWith(field.split('.')[0])), JSON.stringify(res.body.errors));
      }
    });
  });

  describe('replay', () => {
    it('fires again what a run fired, as a new run that names it; another schedule’s or user’s run is 404', async () => {
      const id = await create({ description: 'The usual.' });
      const original = (await call('POST', `/schedule/${id}/run`, { description: 'Once differently.' })).body.run;
      await call('PATCH', `/schedule/${id}`, { description: 'Changed since.' });
      const replayed = await call('POST', `/schedule/${id}/runs/${original.id}/replay`);
      assert.equal(replayed.status, 202, JSON.stringify(replayed.body));
      assert.deepEqual(
        [replayed.body.run.trigger, replayed.body.run.replay_of, replayed.body.run.overrides, replayed.body.run.id === original.id],
        ['replay', original.id, { description: 'Once differently.' }, false],
      );
      const sessions = (await call('GET', `/schedule/${id}/sessions`)).body.sessions;
      assert.equal(prompt(sessions[0]), '<scheduled-task>\nOnce differently.\n</scheduled-task>');
      assert.equal((await call('GET', `/schedule/${id}/runs`)).body.total, 2);

      const other = await create();
      problem(await call('POST', `/schedule/${other}/runs/${original.id}/replay`), 404);
      problem(await call('POST', `/schedule/${id}/runs/${original.id}/replay`), 404);
    });

    it('is refused as a manual run is: a disabled schedule, a busy one under skip', async () => {
      const id = await create({ overlap_policy: 'allow' });
      const run = (await call('POST', `/schedule/${id}/run`)).body.run;
      await call('PATCH', `/schedule/${id}`, { enabled: false });
      problem(await call('POST', `/schedule/${id}/runs/${run.id}/replay`), 409);
    });
  });

  describe('GET /runs', () => {
    it("lists the caller's runs across schedules, newest first, by page, filtered; refuses a bad filter", async () => {
      const first = await create();
      const second = (await call('POST', '/schedule', aCreateBody({ overlap_policy: 'allow' }))).body.schedule_id;
      for (const id of [first, second, second]) assert.equal((await call('POST', `/schedule/${id}/run`)).status, 202);
      const page = await call('GET', '/runs?limit=2');
      assert.equal(page.status, 200, JSON.stringify(page.body));
      assert.deepEqual([page.body.runs.length, page.body.total], [2, 3]);
      const rest = await call('GET', `/runs?limit=2&cursor=${encodeURIComponent(page.body.next_cursor)}`);
      assert.deepEqual([rest.body.runs.length, rest.body.next_cursor], [1, null]);
      assert.equal((await call('GET', `/runs?schedule_id=${second}&trigger=manual&status=succeeded&since=2020-01-01T00:00:00Z`)).body.total, 2);
      assert.equal((await call('GET', '/runs?status=failed')).body.total, 0);
      assert.equal((await call('GET', '/runs')).body.runs.length, 3);
      for (const bad of ['status=broken', 'trigger=sometimes', 'since=yesterday', 'limit=0', 'limit=501', 'cursor=abc']) {
        problem(await call('GET', `/runs?${bad}`), 422);
      }
      user = `user-${uuidv7()}`;
      assert.equal((await call('GET', '/runs')).body.total, 0);
    });
  });
});
