import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from '@jest/globals';
import request from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { fireWrite } from '../src/domain/fire.js';
import { aCreateBody } from './support/builders.js';
import {
  exampleFromSeedPage,
  keyPaths,
  pathsMissingFromSeed,
  SEED_PAGE,
  seedExample,
  seedPageExists,
} from './support/seed.js';
import { assertProblem } from './support/problem.js';
import { appStorage, describeOnEveryBackend } from './support/test-app.js';
import { storedSession } from './support/stored-sessions.js';


describeOnEveryBackend('/schedule', (backend) => {
  const { clock } = backend;
  const http = () => request(backend.app.getHttpServer());
  const newUser = () => `user-${uuidv7()}`;

  async function createSchedule(userId: string, overrides: Record<string, unknown> = {}): Promise<string> {
    const res = await http().post('/schedule').set('x-user-id', userId).send(aCreateBody(overrides)).expect(201);
    return res.body.schedule_id;
  }

  function assertFieldErrors(res: request.Response, fields: string[]): void {
    assertProblem(res, 422);
    const named = new Set(res.body.errors.map((e: { field: string }) => e.field));
    for (const field of fields) assert.ok(named.has(field), `errors[] should name ${field}: ${JSON.stringify(res.body.errors)}`);
  }

  describe('health', () => {
    it('answers 200 while the storage is up, without identity', async () => {
      const res = await http().get('/health').expect(200);
      assert.equal(res.body.status, 'ok');
      assert.equal(res.body.info.storage.status, 'up');
    });
  });

  describe('identity', () => {
    const routes: Array<[string, string]> = [
      ['get', '/schedule'],
      ['post', '/schedule'],
      ['get', '/schedule/x'],
      ['patch', '/schedule/x'],
      ['delete', '/schedule/x'],
      ['get', '/schedule/x/sessions'],
      ['post', '/schedule/x/run'],
      ['get', '/schedule/x/runs/y'],
    ];
    for (const [method, path] of routes) {
      it(`${method.toUpperCase()} ${path} is 401 without x-user-id, and with an empty one`, async () => {
        assertProblem(await http()[method as 'get'](path).send(aCreateBody()), 401);
        assertProblem(await http()[method as 'get'](path).set('x-user-id', '  ').send(aCreateBody()), 401);
      });
    }

    it('answers 401, not 422, to an invalid body without identity', async () => {
      assertProblem(await http().post('/schedule').send({ bogus: true }), 401);
    });
  });

  describe('create and read', () => {
    it('creates a schedule with defaults and returns the record in the wire format', async () => {
      const userId = newUser();
      clock.set('2026-04-01T10:00:00.000Z');
      const { timezone, description, ...body } = aCreateBody();
      assert.ok(timezone && description);
      const created = await http().post('/schedule').set('x-user-id', userId).send(body).expect(201);
      const id = created.body.schedule_id;
      const res = await http().get(`/schedule/${id}`).set('x-user-id', userId).expect(200);
      assert.deepEqual(res.body, {
        id,
        user_id: userId,
        agent_id: 'agent-1',
        created_at: '2026-04-01T10:00:00.000Z',
        updated_at: '2026-04-01T10:00:00.000Z',
        data: {
          name: 'Daily digest',
          description: '',
          enabled: true,
          timezone: 'UTC',
          cron_expression: '0 9 * * 1-5',
          at: null,
          every_seconds: null,
          anchor_at: null,
          jitter_seconds: 0,
          started_at: null,
          ended_at: null,
          chat_model_config: { type: 'openai', credential_id: 'cred-1', model: 'gpt-4o', parameters: { temperature: 0.2 } },
          stateful: false,
          permission_mode: 'dont_ask',
          source: 'USER',
          source_session_id: null,
          catchup_window_seconds: 300,
          overlap_policy: 'skip',
          run_timeout_seconds: 3600,
          history_limit: null,
          pause_after_failures: null,
          max_runs: null,
          paused_reason: null,
          pause_note: null,
          budget: null,
          labels: {},
          key: null,
          skipped_fire_times: [],
        },
        next_run_at: '2026-04-02T09:00:00.000Z',
        last_run_at: null,
        stats: {
          fires: 0,
          succeeded: 0,
          failed: 0,
          timed_out: 0,
          skipped: 0,
          missed: 0,
          consecutive_failures: 0,
          last_success_at: null,
          last_failure_at: null,
          last_error: null,
          period: null,
        },
      });
    });

    it('stores the activation window as UTC instants, whatever offset was sent', async () => {
      const userId = newUser();
      const id = await createSchedule(userId, {
        timezone: 'Asia/Shanghai',
        started_at: '2026-01-01T09:00:00+08:00',
        ended_at: '2026-12-31T23:59:59.5-05:00',
      });
      const res = await http().get(`/schedule/${id}`).set('x-user-id', userId).expect(200);
      assert.equal(res.body.data.started_at, '2026-01-01T01:00:00.000Z');
      assert.equal(res.body.data.ended_at, '2027-01-01T04:59:59.500Z');
    });

    it('accepts 6-field cron with seconds and standard day-of-week 7 for Sunday', async () => {
      const userId = newUser();
      await createSchedule(userId, { cron_expression: '*/2 * * * * *' });
      await createSchedule(userId, { cron_expression: '0 9 * * 7' });
    });

    it('lists only the caller’s schedules, newest first, with the total', async () => {
      const userId = newUser();
      clock.set('2026-04-02T10:00:00.000Z');
      const first = await createSchedule(userId);
      clock.advance(1000);
      const second = await createSchedule(userId);
      await createSchedule(newUser());
      const res = await http().get('/schedule').set('x-user-id', userId).expect(200);
      assert.equal(res.body.total, 2);
      assert.deepEqual(
        res.body.schedules.map((s: { id: string }) => s.id),
        [second, first],
      );
      const empty = await http().get('/schedule').set('x-user-id', newUser()).expect(200);
      assert.deepEqual(empty.body, { schedules: [], total: 0 });
    });

    it('answers 404 for a missing schedule', async () => {
      assertProblem(await http().get(`/schedule/${uuidv7()}`).set('x-user-id', newUser()), 404);
    });
  });

  describe('preview', () => {
    it("answers a body's first fire times in UTC and in its zone, writing nothing", async () => {
      clock.set('2027-03-13T12:00:00.000Z');
      const userId = newUser();
      const body = aCreateBody({ cron_expression: '30 2 * * *', timezone: 'America/New_York', jitter_seconds: 600 });
      const res = await http().post('/schedule/preview?count=3').set('x-user-id', userId).send(body).expect(200);
      // 14 March 2027 is New York's spring-forward day: 02:30 does not exist, and fires at 03:00 (Vixie cron's rule).
      assert.deepEqual(res.body, {
        timezone: 'America/New_York',
        next_runs: [
          { utc: '2027-03-14T07:00:00.000Z', local: '2027-03-14T03:00:00-04:00', skipped: false },
          { utc: '2027-03-15T06:30:00.000Z', local: '2027-03-15T02:30:00-04:00', skipped: false },
          { utc: '2027-03-16T06:30:00.000Z', local: '2027-03-16T02:30:00-04:00', skipped: false },
        ],
      });
      assert.equal((await http().get('/schedule').set('x-user-id', userId).expect(200)).body.total, 0);
    });

    it('refuses a bad body with the same field errors as a create', async () => {
      const body = aCreateBody({ cron_expression: '61 * * * *' });
      const preview = await http().post('/schedule/preview').set('x-user-id', newUser()).send(body);
      const create = await http().post('/schedule').set('x-user-id', newUser()).send(body);
      assertFieldErrors(preview, ['cron_expression']);
      assert.deepEqual(preview.body.errors, create.body.errors);
    });

    it('answers an empty list for a disabled schedule', async () => {
      const res = await http().post('/schedule/preview').set('x-user-id', newUser()).send(aCreateBody({ enabled: false })).expect(200);
      assert.deepEqual(res.body.next_runs, []);
    });
  });

  describe('validation', () => {
    it('names every missing required field', async () => {
      const res = await http().post('/schedule').set('x-user-id', newUser()).send({});
      assertFieldErrors(res, ['name', 'agent_id', 'chat_model_config']);
    });

    it('names cron_expression when a body gives no kind of fire time, or two', async () => {
      const { cron_expression, ...noKind } = aCreateBody();
      assertFieldErrors(await http().post('/schedule').set('x-user-id', newUser()).send(noKind), ['cron_expression']);
      const two = { ...noKind, cron_expression, every_seconds: 3600 };
      assertFieldErrors(await http().post('/schedule').set('x-user-id', newUser()).send(two), ['every_seconds']);
    });

    const invalid: Array<[string, Record<string, unknown>, string]> = [
      ['a cron expression croner rejects', { cron_expression: '61 * * * *' }, 'cron_expression'],
      ['a cron expression with 4 fields', { cron_expression: '* * * *' }, 'cron_expression'],
      ['a cron expression with 7 fields', { cron_expression: '0 0 0 * * * 2027' }, 'cron_expression'],
      ['a cron expression that never fires', { cron_expression: '0 0 30 2 *' }, 'cron_expression'],
      ['an unknown time zone', { timezone: 'Mars/Olympus_Mons' }, 'timezone'],
      ['an empty name', { name: '' }, 'name'],
      ['a name over 256 characters', { name: 'x'.repeat(257) }, 'name'],
      ['a description over 20000 characters', { description: 'x'.repeat(20001) }, 'description'],
      ['an unknown permission mode', { permission_mode: 'yolo' }, 'permission_mode'],
      ['a non-boolean enabled', { enabled: 'yes' }, 'enabled'],
      ['a chat model config without a model', { chat_model_config: { type: 'openai', credential_id: 'c' } }, 'chat_model_config.model'],
      ['a started_at without an offset', { started_at: '2026-01-01T09:00:00' }, 'started_at'],
      ['an ended_at that is not a date', { ended_at: 'tomorrow' }, 'ended_at'],
      ['an ended_at before started_at', { started_at: '2026-02-01T00:00:00Z', ended_at: '2026-01-01T00:00:00Z' }, 'ended_at'],
      ['an ended_at equal to started_at', { started_at: '2026-02-01T00:00:00Z', ended_at: '2026-02-01T00:00:00Z' }, 'ended_at'],
      ['an unknown field', { source: 'AGENT' }, 'source'],
    ];
    for (const [what, overrides, field] of invalid) {
      it(`rejects ${what} with 422 naming ${field}, storing nothing`, async () => {
        const userId = newUser();
        const res = await http().post('/schedule').set('x-user-id', userId).send(aCreateBody(overrides));
        assertFieldErrors(res, [field]);
        const list = await http().get('/schedule').set('x-user-id', userId).expect(200);
        assert.equal(list.body.total, 0);
      });
    }

    it('answers malformed JSON with 400', async () => {
      const res = await http()
        .post('/schedule')
        .set('x-user-id', newUser())
        .set('content-type', 'application/json')
        .send('{"name": ');
      assertProblem(res, 400);
    });

    it('answers a body over 1 MiB with 413', async () => {
      const res = await http()
        .post('/schedule')
        .set('x-user-id', newUser())
        .send(aCreateBody({ description: 'x'.repeat(1024 * 1024) }));
      assertProblem(res, 413);
    });

    it('answers an unknown route with a 404 problem', async () => {
      assertProblem(await http().get('/nowhere').set('x-user-id', newUser()), 404);
    });
  });

  describe('update', () => {
    it('changes only the fields sent, including agent, model config and window', async () => {
      const userId = newUser();
      clock.set('2026-04-03T10:00:00.000Z');
      const id = await createSchedule(userId, { started_at: '2026-01-01T00:00:00Z' });
      const before = (await http().get(`/schedule/${id}`).set('x-user-id', userId)).body;
      clock.set('2026-04-03T11:00:00.000Z');
      const patch = {
        agent_id: 'agent-2',
        chat_model_config: { type: 'anthropic', credential_id: 'c2', model: 'claude' },
        started_at: '2026-02-01T00:00:00+01:00',
        ended_at: '2026-03-01T00:00:00Z',
        permission_mode: 'explore',
      };
      const res = await http().patch(`/schedule/${id}`).set('x-user-id', userId).send(patch).expect(200);
      const expected = {
        ...before,
        agent_id: 'agent-2',
        updated_at: '2026-04-03T11:00:00.000Z',
        data: {
          ...before.data,
          chat_model_config: { type: 'anthropic', credential_id: 'c2', model: 'claude', parameters: {} },
          started_at: '2026-01-31T23:00:00.000Z',
          ended_at: '2026-03-01T00:00:00.000Z',
          permission_mode: 'explore',
          // The new window ended before now: the schedule will not fire again, and says why.
          paused_reason: 'ended',
        },
        next_run_at: null,
      };
      assert.deepEqual(res.body, expected);
      assert.deepEqual((await http().get(`/schedule/${id}`).set('x-user-id', userId)).body, expected);
    });

    it('clears the window with null', async () => {
      const userId = newUser();
      const id = await createSchedule(userId, { ended_at: '2030-01-01T00:00:00Z' });
      const res = await http().patch(`/schedule/${id}`).set('x-user-id', userId).send({ ended_at: null }).expect(200);
      assert.equal(res.body.data.ended_at, null);
    });

    const rejected: Array<[string, Record<string, unknown>, string]> = [
      ['an invalid cron', { cron_expression: 'every day' }, 'cron_expression'],
      ['null for a required field', { name: null }, 'name'],
      ['an unknown field', { user_id: 'mallory' }, 'user_id'],
      ['an ended_at before the stored started_at', { ended_at: '2025-01-01T00:00:00Z' }, 'ended_at'],
      ['a started_at after the stored ended_at', { started_at: '2031-01-01T00:00:00Z' }, 'ended_at'],
    ];
    for (const [what, patch, field] of rejected) {
      it(`rejects ${what} with 422 and leaves the record as it was`, async () => {
        const userId = newUser();
        const id = await createSchedule(userId, { started_at: '2026-01-01T00:00:00Z', ended_at: '2030-01-01T00:00:00Z' });
        const before = (await http().get(`/schedule/${id}`).set('x-user-id', userId)).body;
        clock.advance(60_000);
        assertFieldErrors(await http().patch(`/schedule/${id}`).set('x-user-id', userId).send(patch), [field]);
        assert.deepEqual((await http().get(`/schedule/${id}`).set('x-user-id', userId)).body, before);
      });
    }

    it('answers 404 for a missing schedule', async () => {
      assertProblem(await http().patch(`/schedule/${uuidv7()}`).set('x-user-id', newUser()).send({ name: 'x' }), 404);
    });
  });

  describe('run and sessions', () => {
    it('fires a fresh session per run, listed newest first with the total', async () => {
      const userId = newUser();
      const id = await createSchedule(userId, { description: 'Check the inbox', permission_mode: 'accept_edits' });
      clock.set('2026-04-04T09:00:00.000Z');
      const first = await http().post(`/schedule/${id}/run`).set('x-user-id', userId).expect(202);
      clock.set('2026-04-04T09:05:00.000Z');
      const second = await http().post(`/schedule/${id}/run`).set('x-user-id', userId).expect(202);
      assert.notEqual(first.body.session_id, second.body.session_id);

      const res = await http().get(`/schedule/${id}/sessions`).set('x-user-id', userId).expect(200);
      assert.equal(res.body.total, 2);
      assert.deepEqual(
        res.body.sessions.map((s: { id: string }) => s.id),
        [second.body.session_id, first.body.session_id],
      );
      const [latest] = res.body.sessions;
      assert.equal(latest.user_id, userId);
      assert.equal(latest.agent_id, 'agent-1');
      assert.equal(latest.source, 'schedule');
      assert.equal(latest.source_schedule_id, id);
      assert.equal(latest.created_at, '2026-04-04T09:05:00.000Z');
      assert.equal(latest.state.session_id, latest.id);
      assert.equal(latest.state.permission_context.mode, 'accept_edits');
      assert.deepEqual(latest.config.chat_model_config, aCreateBody().chat_model_config);
      assert.equal(latest.state.tool_context.max_cache_files, 100);
      assert.equal(latest.state.tool_context.max_cache_bytes, 25000);
      assert.equal(latest.state.context.length, 1);
      assert.deepEqual(latest.state.context[0].content[0].type, 'text');
      assert.equal(latest.state.context[0].content[0].text, '<scheduled-task>\nCheck the inbox\n</scheduled-task>');
    });

    it('appends every run of a stateful schedule to its one session', async () => {
      const userId = newUser();
      const id = await createSchedule(userId, { stateful: true });
      clock.set('2026-04-05T09:00:00.000Z');
      const first = await http().post(`/schedule/${id}/run`).set('x-user-id', userId).expect(202);
      clock.set('2026-04-05T10:00:00.000Z');
      const second = await http().post(`/schedule/${id}/run`).set('x-user-id', userId).expect(202);
      assert.equal(first.body.session_id, `${id}_stateful`);
      assert.equal(second.body.session_id, first.body.session_id);
      const res = await http().get(`/schedule/${id}/sessions`).set('x-user-id', userId).expect(200);
      assert.equal(res.body.total, 1);
      const [session] = res.body.sessions;
      assert.equal(session.created_at, '2026-04-05T09:00:00.000Z');
      assert.equal(session.updated_at, '2026-04-05T10:00:00.000Z');
      assert.equal(session.state.context.length, 2);
    });

    it('answers 409 to a run of a disabled schedule, creating nothing', async () => {
      const userId = newUser();
      const id = await createSchedule(userId, { enabled: false });
      assertProblem(await http().post(`/schedule/${id}/run`).set('x-user-id', userId), 409);
      const res = await http().get(`/schedule/${id}/sessions`).set('x-user-id', userId).expect(200);
      assert.deepEqual(res.body, { sessions: [], total: 0 });
    });

    it('answers 404 to a run or a listing of a missing schedule', async () => {
      const userId = newUser();
      assertProblem(await http().post(`/schedule/${uuidv7()}/run`).set('x-user-id', userId), 404);
      assertProblem(await http().get(`/schedule/${uuidv7()}/sessions`).set('x-user-id', userId), 404);
    });
  });

  describe('delete', () => {
    it('deletes the schedule and the sessions it triggered', async () => {
      const userId = newUser();
      const id = await createSchedule(userId);
      const run = await http().post(`/schedule/${id}/run`).set('x-user-id', userId).expect(202);
      const res = await http().delete(`/schedule/${id}`).set('x-user-id', userId).expect(204);
      assert.equal(res.text, '');
      assertProblem(await http().get(`/schedule/${id}`).set('x-user-id', userId), 404);
      assertProblem(await http().get(`/schedule/${id}/sessions`).set('x-user-id', userId), 404);
      assert.equal(await storedSession(appStorage(backend.app).history, { userId, id }, run.body.session_id), null);
      assertProblem(await http().delete(`/schedule/${id}`).set('x-user-id', userId), 404);
    });
  });

  describe('another user’s schedule', () => {
    it('is 404 on every route, exactly like a missing one, and stays untouched', async () => {
      const owner = newUser();
      const stranger = newUser();
      const id = await createSchedule(owner);
      await http().post(`/schedule/${id}/run`).set('x-user-id', owner).expect(202);
      const before = (await http().get(`/schedule/${id}`).set('x-user-id', owner)).body;
      const missing = uuidv7();
      const attempts: Array<(target: string) => request.Test> = [
        (t) => http().get(`/schedule/${t}`).set('x-user-id', stranger),
        (t) => http().patch(`/schedule/${t}`).set('x-user-id', stranger).send({ name: 'mine now' }),
        (t) => http().delete(`/schedule/${t}`).set('x-user-id', stranger),
        (t) => http().get(`/schedule/${t}/sessions`).set('x-user-id', stranger),
        (t) => http().post(`/schedule/${t}/run`).set('x-user-id', stranger),
      ];
      for (const attempt of attempts) {
        const theirs = await attempt(id);
        const absent = await attempt(missing);
        assertProblem(theirs, 404);
        assert.deepEqual(
          { ...theirs.body, detail: undefined, instance: undefined },
          { ...absent.body, detail: undefined, instance: undefined },
        );
        assert.equal(theirs.body.detail.replace(id, 'ID'), absent.body.detail.replace(missing, 'ID'));
      }
      assert.deepEqual((await http().get(`/schedule/${id}`).set('x-user-id', owner)).body, before);
      const sessions = await http().get(`/schedule/${id}/sessions`).set('x-user-id', owner).expect(200);
      assert.equal(sessions.body.total, 1);
      assert.equal((await http().get('/schedule').set('x-user-id', stranger)).body.total, 0);
    });
  });

  describe('the contract page', () => {
    it('a fired session has the seed’s keys and no others', async () => {
      const userId = newUser();
      const id = await createSchedule(userId);
      await http().post(`/schedule/${id}/run`).set('x-user-id', userId).expect(202);
      const res = await http().get(`/schedule/${id}/sessions`).set('x-user-id', userId).expect(200);
      assert.deepEqual(Object.keys(res.body).sort(), ['sessions', 'total']);
      const seed = seedExample() as { sessions: Array<Record<string, unknown>> };
      assert.deepEqual(Object.keys(res.body.sessions[0]).sort(), Object.keys(seed.sessions[0]).sort());
      assert.deepEqual(pathsMissingFromSeed(res.body, seed), []);
    });

    it('a session with every part filled has exactly the seed’s key paths', async () => {
      const userId = newUser();
      const id = await createSchedule(userId);
      const storage = appStorage(backend.app);
      const schedule = (await storage.schedules.getSchedule(userId, id))!;
      const write = fireWrite(schedule, clock.now());
      write.session.config.workspace_id = 'ws-1';
      write.session.config.fallback_chat_model_config = { type: 't', credential_id: 'c', model: 'm', parameters: {} };
      write.session.teamId = 'team-1';
      write.session.state.reply_id = 'reply-1';
      write.session.state.tool_context.read_file_cache.push({ lines: ['a'], updated_at: 1, bytes: 1, file_path: '/a' });
      write.session.state.tool_context.activated_groups.push('files');
      write.session.state.tasks_context.tasks.push({
        subject: 's',
        description: 'd',
        metadata: {},
        created_at: '2026-04-06T09:00:00Z',
        state: 'pending',
        id: 't1',
        owner: 'agent-1',
        blocks: ['t2'],
        blocked_by: ['t0'],
      });
      await storage.firing.recordFire(write);
      const res = await http().get(`/schedule/${id}/sessions`).set('x-user-id', userId).expect(200);
      const seed = seedExample();
      assert.deepEqual(pathsMissingFromSeed(res.body, seed), []);
      assert.deepEqual(pathsMissingFromSeed(seed, res.body), []);
    });
  });
});

describe('the contract page', () => {
  // The page lies in shared/ beside the project; a clone without it still checks the repo's copy below.
  const itWithPage = seedPageExists() ? it : it.skip;
  itWithPage('the repo’s copy of the seed example matches the contract page', () => {
    assert.deepEqual(exampleFromSeedPage(readFileSync(SEED_PAGE, 'utf8')), seedExample());
  });

  it('keyPaths sees nested keys (guards the comparison above)', () => {
    assert.deepEqual(keyPaths({ a: [{ b: 1 }], c: {} }), ['a', 'a[]', 'a[].b', 'c']);
    assert.deepEqual(pathsMissingFromSeed({ a: { x: 1 }, b: { y: 2 } }, { a: {}, b: { z: 1 } }), ['b.y']);
  });
});
