import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import request from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { MAX_PARAMETERS_BYTES } from '../src/wire/chat-model-config.dto.js';
import { aCreateBody } from './support/builders.js';
import { postgresSkipReason } from './support/postgres.js';
import { assertProblem } from './support/problem.js';
import { BACKENDS, createTestApp, type TestApp } from './support/test-app.js';

/*
 * What one user may ask of the service, on every backend: MAX_SCHEDULES_PER_USER (3 here),
 * MIN_FIRE_INTERVAL_SECONDS (120 here), STATEFUL_SESSION_MAX_MESSAGES (3 here) and MAX_PARAMETERS_BYTES.
 */
for (const driver of BACKENDS) {
  describe(`limits on ${driver}`, () => {
    const skip = driver === 'postgres' ? postgresSkipReason() : undefined;
    if (skip) {
      it.skip(`skipped: ${skip}`, () => undefined);
      return;
    }
    let testApp: TestApp;
    beforeAll(async () => {
      testApp = await createTestApp(driver, {
        limits: { maxSchedulesPerUser: 3, minFireIntervalSeconds: 120 },
        storage: { statefulSessionMaxMessages: 3 },
      });
    });
    afterAll(() => testApp?.close());
    const http = () => request(testApp.app.getHttpServer());
    const as = (userId: string) => ({ 'x-user-id': userId });
    const create = (userId: string, body: Record<string, unknown> = {}) => http().post('/schedule').set(as(userId)).send(aCreateBody(body));

    describe('schedules per user', () => {
      it('refuses one past the limit with 409 naming it, and makes room when one is deleted', async () => {
        const user = `u-${uuidv7()}`;
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) ids.push((await create(user).expect(201)).body.schedule_id);
        const refused = await create(user);
        assertProblem(refused, 409);
        assert.equal(refused.body.type, 'urn:schedule-service:problem:schedule-limit-reached');
        assert.match(refused.body.detail, /You have 3 schedules, the most one user may have/);
        assert.equal((await http().get('/schedule').set(as(user)).expect(200)).body.total, 3);
        // Another user's count is their own.
        await create(`u-${uuidv7()}`).expect(201);
        await http().delete(`/schedule/${ids[0]}`).set(as(user)).expect(204);
        await create(user).expect(201);
        assertProblem(await create(user), 409);
      });

      it('lets no burst of concurrent creates past the limit', async () => {
        const user = `u-${uuidv7()}`;
        const statuses = (await Promise.all(Array.from({ length: 10 }, () => create(user)))).map((res) => res.status);
        assert.deepEqual(statuses.sort(), [201, 201, 201, 409, 409, 409, 409, 409, 409, 409]);
        assert.equal((await http().get('/schedule').set(as(user)).expect(200)).body.total, 3);
      });
    });

    describe('minimum interval between fires', () => {
      it('refuses, on create, a cron that fires more often, naming cron_expression', async () => {
        const res = await create(`u-${uuidv7()}`, { cron_expression: '*/30 * * * * *', timezone: 'UTC' });
        assertProblem(res, 422);
        assert.deepEqual(res.body.errors, [
          { field: 'cron_expression', message: 'cron_expression fires as often as every 30 s; at least 120 s must pass between two fires' },
        ]);
        await create(`u-${uuidv7()}`, { cron_expression: '*/2 * * * *', timezone: 'UTC' }).expect(201);
        assertProblem(await create(`u-${uuidv7()}`, { cron_expression: '* * * * *', timezone: 'UTC' }), 422);
      });

      it('refuses, on update, a cron or time zone that makes it fire more often, changing nothing', async () => {
        const user = `u-${uuidv7()}`;
        const id = (await create(user, { cron_expression: '0 0,59 1,3 * * *', timezone: 'UTC' }).expect(201)).body.schedule_id;
        const before = (await http().get(`/schedule/${id}`).set(as(user)).expect(200)).body;
        const faster = await http().patch(`/schedule/${id}`).set(as(user)).send({ cron_expression: '*/10 * * * * *' });
        assertProblem(faster, 422);
        assert.equal(faster.body.errors[0].field, 'cron_expression');
        // The same expression in a zone whose clocks go forward at 02:00 (2026-03-29) fires 01:59 and
        // 03:00 a minute apart; the check looks at the next 20 fire times, so only close to that night.
        testApp.clock.set('2026-03-27T12:00:00.000Z');
        const zone = await http().patch(`/schedule/${id}`).set(as(user)).send({ timezone: 'Europe/Berlin' });
        assertProblem(zone, 422);
        assert.match(zone.body.errors[0].message, /every 60 s/);
        assert.deepEqual((await http().get(`/schedule/${id}`).set(as(user)).expect(200)).body, before);
        await http().patch(`/schedule/${id}`).set(as(user)).send({ name: 'renamed' }).expect(200);
      });
    });

    describe('parameters size', () => {
      /** chat_model_config whose parameters are exactly `bytes` long as JSON: {"p":"xx…"}. */
      const withParameters = (bytes: number) => {
        const parameters = { p: 'x'.repeat(bytes - '{"p":""}'.length) };
        assert.equal(Buffer.byteLength(JSON.stringify(parameters)), bytes);
        return { chat_model_config: { type: 'openai', credential_id: 'cred-1', model: 'gpt-4o', parameters } };
      };

      it('accepts parameters of MAX_PARAMETERS_BYTES as JSON and refuses one byte more with 422 naming the field', async () => {
        const user = `u-${uuidv7()}`;
        const id = (await create(user, withParameters(MAX_PARAMETERS_BYTES)).expect(201)).body.schedule_id;
        const refused = await create(user, withParameters(MAX_PARAMETERS_BYTES + 1));
        assertProblem(refused, 422);
        assert.deepEqual(refused.body.errors, [
          { field: 'chat_model_config.parameters', message: `parameters must be at most ${MAX_PARAMETERS_BYTES} bytes as JSON` },
        ]);
        const patched = await http().patch(`/schedule/${id}`).set(as(user)).send(withParameters(MAX_PARAMETERS_BYTES + 1));
        assertProblem(patched, 422);
        assert.equal(patched.body.errors[0].field, 'chat_model_config.parameters');
      });
    });

    describe('a stateful session', () => {
      it('keeps the newest messages up to the bound as fires append', async () => {
        const user = `u-${uuidv7()}`;
        const id = (await create(user, { stateful: true, description: 'Keep going' }).expect(201)).body.schedule_id;
        for (let i = 0; i < 5; i++) {
          testApp.clock.advance(1000);
          await http().post(`/schedule/${id}/run`).set(as(user)).expect(202);
        }
        const { sessions, total } = (await http().get(`/schedule/${id}/sessions`).set(as(user)).expect(200)).body;
        assert.equal(total, 1);
        const times = sessions[0].state.context.map((m: { created_at: string }) => m.created_at);
        const now = testApp.clock.now().getTime();
        assert.deepEqual(times, [now - 2000, now - 1000, now].map((t) => new Date(t).toISOString()));
        assert.equal((await http().get(`/schedule/${id}/runs`).set(as(user)).expect(200)).body.total, 5);
      });
    });
  });
}
