import assert from 'node:assert/strict';
import { beforeAll, describe, it } from '@jest/globals';
import request, { type Response } from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { DEFAULT_STORAGE_LIMITS } from '../src/config/app-config.js';
import type { StorageBackend } from '../src/storage/storage-backend.js';
import { aCreateBody } from './support/builders.js';
import { aRuntimeToken, type InjectedReply as Reply, injectJson, undeliveredDispatch } from './support/dispatch.js';
import { assertProblem } from './support/problem.js';
import { pathsMissingFromSeed, seedExample } from './support/seed.js';
import { appStorage, type BackendHandle, describeOnEveryBackend } from './support/test-app.js';
import { storedSession } from './support/stored-sessions.js';

const RUNTIME_TOKEN = aRuntimeToken();
/** Fires are dispatched (runs stay active until reported), but nothing delivers them. */
const DISPATCH = undeliveredDispatch();

interface Call {
  user?: string;
  /** The whole Authorization header; `token` is short for `Bearer <token>`. */
  authorization?: string;
  token?: string;
  body?: unknown;
}

/** One request through Fastify's inject, as the status, headers and parsed body. */
function caller(backend: BackendHandle) {
  return async (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, call: Call = {}): Promise<Reply> => {
    const headers: Record<string, string> = {};
    if (call.user !== undefined) headers['x-user-id'] = call.user;
    if (call.token !== undefined) headers.authorization = `Bearer ${call.token}`;
    if (call.authorization !== undefined) headers.authorization = call.authorization;
    return injectJson(backend.app, method, url, headers, call.body);
  };
}

const problem = (res: Reply | Response, status: number) => assertProblem(res as Response, status);

/** A 401 of the runtime routes: a problem with a bearer challenge. */
function assertUnauthorized(res: Reply | Response): void {
  problem(res, 401);
  assert.match(String(res.headers['www-authenticate']), /^Bearer\b/);
}

/** The seed's example state, for the session `sessionId`: what a runtime would write back. */
function seedState(sessionId: string): Record<string, any> {
  const { sessions } = seedExample() as { sessions: Array<{ state: Record<string, unknown> }> };
  return { ...structuredClone(sessions[0].state), session_id: sessionId };
}

describeOnEveryBackend('/runtime without a runtime token', (backend) => {
  const call = caller(backend);

  it('answers every runtime route exactly as an unknown route, whatever is sent', async () => {
    const attempts: Array<['POST' | 'PUT', string, Call]> = [
      ['POST', '/runtime/runs/r1/status', { body: { status: 'succeeded' } }],
      ['POST', '/runtime/runs/r1/status', { token: 'anything-at-all-here', body: { status: 'succeeded' } }],
      ['PUT', '/runtime/sessions/s1/state', { token: 'anything-at-all-here', body: seedState('s1') }],
      ['PUT', '/runtime/sessions/s1/state', { user: 'alice', body: { bogus: true } }],
    ];
    for (const [method, path, request] of attempts) {
      const res = await call(method, path, request);
      const unknown = await call(method, path.replace('/runtime/', '/nowhere/'), request);
      problem(res, 404);
      problem(unknown, 404);
      assert.deepEqual(
        { ...res.body, detail: res.body.detail.replace('/runtime/', '/X/'), instance: undefined },
        { ...unknown.body, detail: unknown.body.detail.replace('/nowhere/', '/X/'), instance: undefined },
      );
      assert.equal(res.headers['www-authenticate'], undefined);
    }
  });
});

describeOnEveryBackend(
  '/runtime',
  (backend) => {
    const { clock } = backend;
    const call = caller(backend);
    let storage: StorageBackend;
    beforeAll(() => {
      storage = appStorage(backend.app);
    });
    const newUser = () => `user-${uuidv7()}`;

    async function createSchedule(userId: string, overrides: Record<string, unknown> = {}): Promise<string> {
      const res = await call('POST', '/schedule', { user: userId, body: aCreateBody(overrides) });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.schedule_id;
    }
    /** A manual fire: its session id and its (pending) run. */
    async function fire(userId: string, scheduleId: string): Promise<{ sessionId: string; run: Record<string, unknown> & { id: string } }> {
      const res = await call('POST', `/schedule/${scheduleId}/run`, { user: userId });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      return { sessionId: res.body.session_id, run: res.body.run };
    }
    const report = (runId: string, body: unknown, token = RUNTIME_TOKEN) =>
      call('POST', `/runtime/runs/${runId}/status`, { token, body });
    const putState = (sessionId: string, body: unknown, token = RUNTIME_TOKEN) =>
      call('PUT', `/runtime/sessions/${sessionId}/state`, { token, body });
    async function sessionsOf(userId: string, scheduleId: string) {
      const res = await call('GET', `/schedule/${scheduleId}/sessions`, { user: userId });
      assert.equal(res.status, 200);
      return res.body as { sessions: Array<Record<string, any>>; total: number };
    }
    async function runOf(userId: string, scheduleId: string, runId: string) {
      const res = await call('GET', `/schedule/${scheduleId}/runs/${runId}`, { user: userId });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body;
    }

    describe('authentication', () => {
      let userId: string;
      let scheduleId: string;
      let sessionId: string;
      let runId: string;
      beforeAll(async () => {
        userId = newUser();
        scheduleId = await createSchedule(userId);
        const fired = await fire(userId, scheduleId);
        sessionId = fired.sessionId;
        runId = fired.run.id;
      });

      it('is 401 with a bearer challenge without a token, with a wrong one, or with another scheme', async () => {
        const wrong = [
          {},
          { token: 'not-the-runtime-token' },
          { token: `${RUNTIME_TOKEN}x` },
          { token: RUNTIME_TOKEN.slice(0, -1) },
          { token: '' },
          { authorization: RUNTIME_TOKEN },
          { authorization: `Basic ${Buffer.from(`runtime:${RUNTIME_TOKEN}`).toString('base64')}` },
          { authorization: `Bearer ${RUNTIME_TOKEN} extra` },
        ];
        for (const auth of wrong) {
          const status = await call('POST', `/runtime/runs/${runId}/status`, { ...auth, body: { status: 'running' } });
          assertUnauthorized(status);
          const state = await call('PUT', `/runtime/sessions/${sessionId}/state`, { ...auth, body: seedState(sessionId) });
          assertUnauthorized(state);
        }
        const invalid = await call('POST', `/runtime/runs/${runId}/status`, { token: 'not-the-runtime-token', body: { status: 'running' } });
        assert.match(String(invalid.headers['www-authenticate']), /error="invalid_token"/);
        // Nothing was applied.
        assert.equal((await runOf(userId, scheduleId, runId)).status, 'pending');
        assert.equal((await sessionsOf(userId, scheduleId)).sessions[0].state.summary, '');
      });

      it('does not accept a user identity, not even the owner’s', async () => {
        assertUnauthorized(await call('POST', `/runtime/runs/${runId}/status`, { user: userId, body: { status: 'running' } }));
        assertUnauthorized(await call('PUT', `/runtime/sessions/${sessionId}/state`, { user: userId, body: seedState(sessionId) }));
        assert.equal((await runOf(userId, scheduleId, runId)).status, 'pending');
      });

      it('answers 401 before it looks at the body', async () => {
        assertUnauthorized(await call('POST', `/runtime/runs/${runId}/status`, { body: { status: 'bogus' } }));
        assertUnauthorized(await call('PUT', `/runtime/sessions/${sessionId}/state`, { body: { bogus: true } }));
      });

      it('is 401 with two Authorization headers, even when one holds the token', async () => {
        // Over a real socket: Node keeps only the first Authorization header in `headers`.
        const res = await request(backend.app.getHttpServer())
          .post(`/runtime/runs/${runId}/status`)
          .set('authorization', [`Bearer ${RUNTIME_TOKEN}`, 'Bearer other'] as unknown as string)
          .send({ status: 'running' });
        assertUnauthorized(res);
        assert.equal((await runOf(userId, scheduleId, runId)).status, 'pending');
      });

      it('takes the scheme in any case', async () => {
        const res = await call('POST', `/runtime/runs/${runId}/status`, { authorization: `bearer ${RUNTIME_TOKEN}`, body: { status: 'running' } });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.status, 'running');
      });

      it('the runtime token does not authenticate a /schedule route', async () => {
        const routes: Array<['GET' | 'POST' | 'PATCH' | 'DELETE', string]> = [
          ['GET', '/schedule'],
          ['GET', `/schedule/${scheduleId}`],
          ['GET', `/schedule/${scheduleId}/sessions`],
          ['GET', `/schedule/${scheduleId}/runs`],
          ['GET', `/schedule/${scheduleId}/runs/${runId}`],
          ['POST', `/schedule/${scheduleId}/run`],
          ['PATCH', `/schedule/${scheduleId}`],
          ['DELETE', `/schedule/${scheduleId}`],
        ];
        for (const [method, path] of routes) {
          const res = await call(method, path, { token: RUNTIME_TOKEN, ...(method === 'PATCH' ? { body: { name: 'x' } } : {}) });
          problem(res, 401);
          assert.equal(res.body.type, 'urn:schedule-service:problem:missing-user-id', `${method} ${path}`);
        }
        assert.equal((await sessionsOf(userId, scheduleId)).total, 1);
      });
    });

    describe('POST /runtime/runs/{run_id}/status', () => {
      it('moves a run pending → running → succeeded, each repeat a no-op 200, then refuses any other status with 409', async () => {
        const userId = newUser();
        const scheduleId = await createSchedule(userId);
        clock.advance(1000);
        const { run } = await fire(userId, scheduleId);
        assert.equal(run.status, 'pending');

        clock.advance(1000);
        const running = await report(run.id, { status: 'running' });
        assert.equal(running.status, 200, JSON.stringify(running.body));
        assert.equal(running.body.id, run.id);
        assert.equal(running.body.status, 'running');
        assert.equal(running.body.finished_at, null);
        assert.equal(running.body.timeout_at, run.timeout_at);
        const again = await report(run.id, { status: 'running' });
        assert.equal(again.status, 200);
        assert.deepEqual(again.body, running.body);

        clock.advance(5000);
        const succeeded = await report(run.id, { status: 'succeeded' });
        assert.equal(succeeded.status, 200);
        assert.equal(succeeded.body.status, 'succeeded');
        assert.equal(succeeded.body.error, null);
        assert.equal(succeeded.body.finished_at, clock.now().toISOString());
        clock.advance(1000);
        const repeated = await report(run.id, { status: 'succeeded' });
        assert.equal(repeated.status, 200);
        assert.deepEqual(repeated.body, succeeded.body);

        for (const status of ['failed', 'running']) {
          const refused = await report(run.id, { status, error: 'too late' });
          problem(refused, 409);
          assert.equal(refused.body.current_status, 'succeeded');
          assert.match(refused.body.detail, /succeeded/);
          assert.ok(refused.body.detail.includes(run.id));
        }
        assert.deepEqual(await runOf(userId, scheduleId, run.id), { ...succeeded.body, attempts: [] });
      });

      it('lets a run go straight to failed, keeping the error, and to succeeded without its error', async () => {
        const userId = newUser();
        const scheduleId = await createSchedule(userId, { overlap_policy: 'allow' });
        const first = (await fire(userId, scheduleId)).run;
        const second = (await fire(userId, scheduleId)).run;
        const failed = await report(first.id, { status: 'failed', error: 'model call failed: rate limited' });
        assert.equal(failed.status, 200);
        assert.equal(failed.body.status, 'failed');
        assert.equal(failed.body.error, 'model call failed: rate limited');
        assert.equal(failed.body.finished_at, clock.now().toISOString());
        const succeeded = await report(second.id, { status: 'succeeded', error: 'ignored without failed' });
        assert.equal(succeeded.status, 200);
        assert.equal(succeeded.body.error, null);
        const noError = await report((await fire(userId, scheduleId)).run.id, { status: 'failed', error: null });
        assert.equal(noError.status, 200);
        assert.equal(noError.body.status, 'failed');
      });

      it('keeps the usage reported with a final status, which the run then shows', async () => {
        const userId = newUser();
        const scheduleId = await createSchedule(userId, { overlap_policy: 'allow' });
        const { run } = await fire(userId, scheduleId);
        assert.equal(run.usage, null);
        const usage = { input_tokens: 1200, output_tokens: 340, cost_usd: 0.0123 };
        const succeeded = await report(run.id, { status: 'succeeded', usage });
        assert.equal(succeeded.status, 200, JSON.stringify(succeeded.body));
        assert.deepEqual(succeeded.body.usage, usage);
        assert.deepEqual((await runOf(userId, scheduleId, run.id)).usage, usage);
        const listed = await call('GET', `/schedule/${scheduleId}/runs`, { user: userId });
        assert.deepEqual(listed.body.runs[0].usage, usage);

        const unpriced = (await fire(userId, scheduleId)).run;
        const failed = await report(unpriced.id, { status: 'failed', error: 'x', usage: { input_tokens: 10, output_tokens: 0 } });
        assert.deepEqual(failed.body.usage, { input_tokens: 10, output_tokens: 0, cost_usd: null });
        const none = (await fire(userId, scheduleId)).run;
        assert.equal((await report(none.id, { status: 'succeeded', usage: null })).body.usage, null);
      });

      it('answers 404 for an unknown run', async () => {
        const missing = uuidv7();
        const res = await report(missing, { status: 'running' });
        problem(res, 404);
        assert.ok(res.body.detail.includes(missing));
      });

      const invalid: Array<[string, unknown, string]> = [
        ['no body', undefined, 'status'],
        ['no status', { error: 'x' }, 'status'],
        ['a status the runtime may not report', { status: 'pending' }, 'status'],
        ['another such status', { status: 'timed_out' }, 'status'],
        ['an unknown status', { status: 'done' }, 'status'],
        ['an error that is not a string', { status: 'failed', error: 42 }, 'error'],
        ['an error over 2000 characters', { status: 'failed', error: 'x'.repeat(2001) }, 'error'],
        ['an unknown field', { status: 'failed', reason: 'x' }, 'reason'],
        ['usage with running', { status: 'running', usage: { input_tokens: 1, output_tokens: 1 } }, 'usage'],
        ['usage that is not an object', { status: 'succeeded', usage: 12 }, 'usage'],
        ['usage without its output tokens', { status: 'succeeded', usage: { input_tokens: 1 } }, 'usage.output_tokens'],
        ['negative tokens', { status: 'succeeded', usage: { input_tokens: -1, output_tokens: 1 } }, 'usage.input_tokens'],
        ['tokens that are not whole', { status: 'succeeded', usage: { input_tokens: 1.5, output_tokens: 1 } }, 'usage.input_tokens'],
        ['tokens past 10^9', { status: 'succeeded', usage: { input_tokens: 1, output_tokens: 1_000_000_001 } }, 'usage.output_tokens'],
        ['a negative cost', { status: 'failed', usage: { input_tokens: 1, output_tokens: 1, cost_usd: -0.5 } }, 'usage.cost_usd'],
        ['a cost given as text', { status: 'failed', usage: { input_tokens: 1, output_tokens: 1, cost_usd: '0.5' } }, 'usage.cost_usd'],
        ['a cost past 10^6', { status: 'failed', usage: { input_tokens: 1, output_tokens: 1, cost_usd: 1_000_001 } }, 'usage.cost_usd'],
        ['an unknown usage field', { status: 'failed', usage: { input_tokens: 1, output_tokens: 1, tokens: 2 } }, 'usage.tokens'],
      ];
      for (const [what, body, field] of invalid) {
        it(`answers 422 naming ${field} to ${what}, changing nothing`, async () => {
          const userId = newUser();
          const scheduleId = await createSchedule(userId);
          const { run } = await fire(userId, scheduleId);
          const res = await report(run.id, body);
          problem(res, 422);
          assert.ok(res.body.errors.some((e: { field: string }) => e.field === field), JSON.stringify(res.body.errors));
          assert.equal((await runOf(userId, scheduleId, run.id)).status, 'pending');
        });
      }
    });

    describe('PUT /runtime/sessions/{session_id}/state', () => {
      /** The fired session's state with the agent's reply, a summary and a task: what a runtime writes back. */
      function stateWithReply(session: Record<string, any>): Record<string, any> {
        const state = structuredClone(session.state);
        const at = clock.now().toISOString();
        state.context.push({
          name: 'agent-1',
          content: [{ type: 'text', text: 'Yesterday: 12 tickets, 3 urgent.', id: 'block-reply' }],
          id: 'msg-reply',
          metadata: { model: 'gpt-4o' },
          created_at: at,
          finished_at: at,
          usage: { input_tokens: 120, output_tokens: 14 },
        });
        state.reply_id = 'msg-reply';
        state.cur_iter = 1;
        state.summary = 'Summarised the tickets.';
        state.tasks_context.tasks.push({
          subject: 'Summarise',
          description: 'Summarise yesterday’s tickets',
          metadata: {},
          created_at: at,
          state: 'completed',
          id: 'task-1',
          owner: 'agent-1',
          blocks: [],
          blocked_by: [],
        });
        return state;
      }

      it('replaces the state, which GET /schedule/{id}/sessions then shows', async () => {
        const userId = newUser();
        const scheduleId = await createSchedule(userId);
        const { sessionId } = await fire(userId, scheduleId);
        const [fired] = (await sessionsOf(userId, scheduleId)).sessions;
        const state = stateWithReply(fired);
        clock.advance(7000);
        const res = await putState(sessionId, state);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        const expected = { ...fired, state, updated_at: clock.now().toISOString() };
        assert.deepEqual(res.body, expected);
        const listed = await sessionsOf(userId, scheduleId);
        assert.equal(listed.total, 1);
        assert.deepEqual(listed.sessions[0], expected);
      });

      it('takes a state far past a user body’s limits, keeping the newest messages within STATEFUL_SESSION_MAX_BYTES', async () => {
        const userId = newUser();
        const scheduleId = await createSchedule(userId);
        const { sessionId } = await fire(userId, scheduleId);
        const [fired] = (await sessionsOf(userId, scheduleId)).sessions;
        const state = structuredClone(fired.state);
        // 1200 messages of 1 KiB: about 1.3 MiB and 17 000 JSON values, where a user's body stops at 1 MiB and 2000.
        for (let i = 0; i < 1200; i++) {
          state.context.push({ ...structuredClone(state.context[0]), id: `msg-${i}`, content: [{ type: 'text', text: 'x'.repeat(1024), id: `b-${i}` }] });
        }
        const res = await putState(sessionId, state);
        assert.equal(res.status, 200, JSON.stringify(res.body).slice(0, 500));
        // About 1.25 KB a message: the byte bound (1 MiB) cuts before the count bound (1000) does.
        const kept = (await sessionsOf(userId, scheduleId)).sessions[0].state.context;
        const bytes = (messages: unknown[]) => messages.reduce<number>((sum, m) => sum + Buffer.byteLength(JSON.stringify(m)), 0);
        const maxBytes = DEFAULT_STORAGE_LIMITS.statefulSessionMaxBytes;
        assert.ok(kept.length > 700 && kept.length < 1000, `${kept.length} kept`);
        assert.deepEqual(kept.map((m: { id: string }) => m.id), state.context.slice(-kept.length).map((m: { id: string }) => m.id));
        assert.ok(bytes(kept) <= maxBytes && bytes(state.context.slice(-kept.length - 1)) > maxBytes, `${bytes(kept)} bytes kept`);
      });

      it('takes the seed’s example state, and the session then has exactly the seed’s key paths', async () => {
        const userId = newUser();
        const scheduleId = await createSchedule(userId);
        const { sessionId } = await fire(userId, scheduleId);
        const state = seedState(sessionId);
        const res = await putState(sessionId, state);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        const listed = await sessionsOf(userId, scheduleId);
        assert.deepEqual(listed.sessions[0].state, state);
        // Everything the seed has but what the service itself leaves null (workspace, team, fallback model).
        const seed = seedExample();
        assert.deepEqual(pathsMissingFromSeed(listed, seed), []);
        assert.deepEqual(
          pathsMissingFromSeed(seed, listed).filter((p) => !/config\.fallback_chat_model_config\./.test(p)),
          [],
        );
      });

      it('writes the stateful schedule’s one shared session, which the next fire appends to', async () => {
        const userId = newUser();
        const scheduleId = await createSchedule(userId, { stateful: true });
        const first = await fire(userId, scheduleId);
        assert.equal(first.sessionId, `${scheduleId}_stateful`);
        const [fired] = (await sessionsOf(userId, scheduleId)).sessions;
        const state = stateWithReply(fired);
        assert.equal((await putState(first.sessionId, state)).status, 200);
        assert.equal((await report(first.run.id, { status: 'succeeded' })).status, 200);

        clock.advance(60_000);
        const second = await fire(userId, scheduleId);
        assert.equal(second.sessionId, first.sessionId);
        const listed = await sessionsOf(userId, scheduleId);
        assert.equal(listed.total, 1);
        const context = listed.sessions[0].state.context;
        assert.equal(context.length, 3);
        assert.deepEqual(context.slice(0, 2), state.context);
        assert.equal(context[2].content[0].text, '<scheduled-task>\nSummarise yesterday\n</scheduled-task>');
        assert.equal(listed.sessions[0].state.summary, 'Summarised the tickets.');
      });

      it('answers 404 for an unknown session', async () => {
        const missing = `${uuidv7()}`;
        const res = await putState(missing, seedState(missing));
        problem(res, 404);
        assert.ok(res.body.detail.includes(missing));
      });

      // Each takes the seed's example state and breaks one thing in it.
      type Breakage = (state: Record<string, any>) => void;
      const bad: Array<[string, Breakage, string]> = [
        ['a state naming another session', (s) => void (s.session_id = 'another-session'), 'session_id'],
        ['no context', (s) => void delete s.context, 'context'],
        ['a context that is not a list', (s) => void (s.context = {}), 'context'],
        ['a message without an id', (s) => void delete s.context[0].id, 'context.0.id'],
        ['a message with an empty name', (s) => void (s.context[0].name = ''), 'context.0.name'],
        ['a content block that is not text', (s) => void (s.context[0].content[0].type = 'image'), 'context.0.content.0.type'],
        ['a text block over 100000 characters', (s) => void (s.context[0].content[0].text = 'x'.repeat(100_001)), 'context.0.content.0.text'],
        ['a message with an unknown field', (s) => void (s.context[0].role = 'user'), 'context.0.role'],
        ['negative token usage', (s) => void (s.context[0].usage.input_tokens = -1), 'context.0.usage.input_tokens'],
        ['metadata that is a list', (s) => void (s.context[0].metadata = []), 'context.0.metadata'],
        ['metadata over 16 KiB', (s) => void (s.context[0].metadata = { blob: 'x'.repeat(16 * 1024) }), 'context.0.metadata'],
        ['a summary that is not a string', (s) => void (s.summary = null), 'summary'],
        ['a reply_id that is a number', (s) => void (s.reply_id = 7), 'reply_id'],
        ['a negative cur_iter', (s) => void (s.cur_iter = -1), 'cur_iter'],
        ['a fractional cur_iter', (s) => void (s.cur_iter = 1.5), 'cur_iter'],
        ['an unknown permission mode', (s) => void (s.permission_context.mode = 'yolo'), 'permission_context.mode'],
        ['no permission context', (s) => void delete s.permission_context, 'permission_context'],
        ['allow_rules that are a string', (s) => void (s.permission_context.allow_rules = 'all'), 'permission_context.allow_rules'],
        ['a cache entry without a path', (s) => void delete s.tool_context.read_file_cache[0].file_path, 'tool_context.read_file_cache.0.file_path'],
        ['a cache line that is not a string', (s) => void (s.tool_context.read_file_cache[0].lines = [1]), 'tool_context.read_file_cache.0.lines'],
        ['over 100 activated groups', (s) => void (s.tool_context.activated_groups = Array.from({ length: 101 }, (_, i) => `g${i}`)), 'tool_context.activated_groups'],
        ['a task in an unknown state', (s) => void (s.tasks_context.tasks[0].state = 'done'), 'tasks_context.tasks.0.state'],
        ['a task whose blocks are not strings', (s) => void (s.tasks_context.tasks[0].blocks = [{}]), 'tasks_context.tasks.0.blocks'],
        ['an unknown field in the state', (s) => void (s.extra = true), 'extra'],
      ];
      for (const [what, breakIt, field] of bad) {
        it(`answers 422 naming ${field} to ${what}, storing nothing`, async () => {
          const userId = newUser();
          const scheduleId = await createSchedule(userId);
          const { sessionId } = await fire(userId, scheduleId);
          const before = await sessionsOf(userId, scheduleId);
          const state = seedState(sessionId);
          breakIt(state);
          clock.advance(1000);
          const res = await putState(sessionId, state);
          problem(res, 422);
          assert.ok(
            res.body.errors.some((e: { field: string }) => e.field === field),
            `errors[] should name ${field}: ${JSON.stringify(res.body.errors)}`,
          );
          assert.deepEqual(await sessionsOf(userId, scheduleId), before);
        });
      }

      it('answers 422 to a body that is not a state at all', async () => {
        const userId = newUser();
        const scheduleId = await createSchedule(userId);
        const { sessionId } = await fire(userId, scheduleId);
        for (const body of [undefined, [], 'state']) {
          problem(await putState(sessionId, body), 422);
        }
        assert.equal((await storedSession(storage.history, { userId, id: scheduleId }, sessionId))!.state.context.length, 1);
      });
    });

    describe('GET /schedule/{schedule_id}/runs/{run_id}', () => {
      it('shows the run with its delivery attempts, oldest first', async () => {
        const userId = newUser();
        const scheduleId = await createSchedule(userId);
        const { run } = await fire(userId, scheduleId);
        const firstAt = clock.now();
        await storage.delivery.recordDeliveryAttempts([{ attempt: { runId: run.id, at: firstAt, statusCode: null, error: 'connect ECONNREFUSED 127.0.0.1:9', durationMs: 3 }, result: { outcome: 'retry', nextAttemptAt: new Date(firstAt.getTime() + 1000) } }], firstAt);
        clock.advance(1500);
        const secondAt = clock.now();
        await storage.delivery.recordDeliveryAttempts([{ attempt: { runId: run.id, at: secondAt, statusCode: 202, error: null, durationMs: 41 }, result: { outcome: 'delivered' } }], new Date(secondAt.getTime() + 41));
        const res = await runOf(userId, scheduleId, run.id);
        assert.deepEqual(res, {
          ...run,
          status: 'dispatched',
          attempts: [
            { at: firstAt.toISOString(), status_code: null, error: 'connect ECONNREFUSED 127.0.0.1:9', duration_ms: 3 },
            { at: secondAt.toISOString(), status_code: 202, error: null, duration_ms: 41 },
          ],
        });
      });

      it('is 404 for another user’s run, another schedule’s, and a missing one, alike', async () => {
        const owner = newUser();
        const stranger = newUser();
        const scheduleId = await createSchedule(owner);
        const otherScheduleId = await createSchedule(owner);
        const { run } = await fire(owner, scheduleId);
        const missing = uuidv7();
        const attempts: Array<[string, string, string]> = [
          [stranger, scheduleId, run.id],
          [owner, otherScheduleId, run.id],
          [owner, scheduleId, missing],
          [owner, missing, run.id],
        ];
        for (const [userId, sid, rid] of attempts) {
          const res = await call('GET', `/schedule/${sid}/runs/${rid}`, { user: userId });
          problem(res, 404);
          assert.equal(res.body.type, 'urn:schedule-service:problem:run-not-found');
          assert.equal(res.body.detail, `Run ${rid} not found.`);
        }
      });
    });
  },
  { dispatch: DISPATCH, runtimeToken: RUNTIME_TOKEN },
);
