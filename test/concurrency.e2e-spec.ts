import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import request from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { aCreateBody } from './support/builders.js';
import { assertProblem } from './support/problem.js';
import { describeOnEveryBackend } from './support/test-app.js';


describeOnEveryBackend('concurrent updates of a schedule', (backend) => {
  const { clock } = backend;
  const http = () => request(backend.app.getHttpServer());
  const newUser = () => `user-${uuidv7()}`;

  async function createSchedule(userId: string, overrides: Record<string, unknown> = {}): Promise<string> {
    const res = await http().post('/schedule').set('x-user-id', userId).send(aCreateBody(overrides)).expect(201);
    return res.body.schedule_id;
  }
  const get = (userId: string, id: string) => http().get(`/schedule/${id}`).set('x-user-id', userId).expect(200);
  const patch = (userId: string, id: string, body: Record<string, unknown>, ifMatch?: string) => {
    const req = http().patch(`/schedule/${id}`).set('x-user-id', userId);
    return (ifMatch === undefined ? req : req.set('if-match', ifMatch)).send(body);
  };

  function assertPreconditionFailed(res: request.Response): void {
    assertProblem(res, 412);
    assert.equal(res.body.type, 'urn:schedule-service:problem:schedule-version-mismatch');
  }

  describe('ETag and If-Match', () => {
    it('GET and PATCH answer with a strong ETag, the version, which every update moves on', async () => {
      const userId = newUser();
      const id = await createSchedule(userId);
      assert.equal((await get(userId, id)).headers.etag, '"1"');
      const patched = await patch(userId, id, { name: 'once' }).expect(200);
      assert.equal(patched.headers.etag, '"2"');
      assert.equal(patched.body.data.name, 'once');
      assert.equal((await get(userId, id)).headers.etag, '"2"');
      assert.equal((await patch(userId, id, {}).expect(200)).headers.etag, '"3"');
    });

    it('a PATCH whose If-Match names the current version updates it and answers the next ETag', async () => {
      const userId = newUser();
      const id = await createSchedule(userId);
      const { etag } = (await get(userId, id)).headers;
      const res = await patch(userId, id, { description: 'checked' }, etag).expect(200);
      assert.equal(res.headers.etag, '"2"');
      assert.equal(res.body.data.description, 'checked');
      const again = await patch(userId, id, { description: 'checked again' }, res.headers.etag).expect(200);
      assert.equal(again.headers.etag, '"3"');
      assert.deepEqual((await get(userId, id)).body, again.body);
    });

    it('a PATCH with a stale If-Match is 412 and changes nothing', async () => {
      const userId = newUser();
      const id = await createSchedule(userId);
      const stale = (await get(userId, id)).headers.etag;
      await patch(userId, id, { name: 'first' }, stale).expect(200);
      const before = await get(userId, id);
      clock.advance(60_000);
      assertPreconditionFailed(await patch(userId, id, { name: 'second', enabled: false }, stale));
      const after = await get(userId, id);
      assert.deepEqual(after.body, before.body);
      assert.equal(after.headers.etag, before.headers.etag);
    });

    it('If-Match: * matches any version; a list matches if it names the current one', async () => {
      const userId = newUser();
      const id = await createSchedule(userId);
      await patch(userId, id, { name: 'a' }).expect(200);
      assert.equal((await patch(userId, id, { name: 'b' }, '*').expect(200)).headers.etag, '"3"');
      assert.equal((await patch(userId, id, { name: 'c' }, '"1", "3"').expect(200)).headers.etag, '"4"');
      assertPreconditionFailed(await patch(userId, id, { name: 'd' }, '"1", "3"'));
      assert.equal((await get(userId, id)).body.data.name, 'c');
    });

    for (const [what, ifMatch] of [
      ['an unquoted version', '1'],
      ['a weak tag of the current version', 'W/"1"'],
      ['a tag that is not a version', '"abc"'],
      ['* in a list', '*, "1"'],
      ['garbage', 'yes please'],
    ]) {
      it(`a malformed If-Match (${what}) fails the precondition: 412, nothing written`, async () => {
        const userId = newUser();
        const id = await createSchedule(userId);
        const before = await get(userId, id);
        assertPreconditionFailed(await patch(userId, id, { name: 'never' }, ifMatch));
        const after = await get(userId, id);
        assert.deepEqual(after.body, before.body);
        assert.equal(after.headers.etag, '"1"');
      });
    }

    it('a schedule the caller does not have is 404 whatever If-Match says', async () => {
      const owner = newUser();
      const id = await createSchedule(owner);
      for (const ifMatch of ['"1"', '*', '"9"', 'garbage']) {
        assert.equal((await patch(newUser(), id, { name: 'mine' }, ifMatch)).status, 404, ifMatch);
        assert.equal((await patch(owner, uuidv7(), { name: 'mine' }, ifMatch)).status, 404, ifMatch);
      }
      assert.equal((await get(owner, id)).headers.etag, '"1"');
    });

    it('an invalid merged record is 422 even with a matching If-Match, and keeps the version', async () => {
      const userId = newUser();
      const id = await createSchedule(userId, { started_at: '2026-01-01T00:00:00Z' });
      const res = await patch(userId, id, { ended_at: '2025-01-01T00:00:00Z' }, '"1"');
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.equal((await get(userId, id)).headers.etag, '"1"');
    });

    it('of parallel PATCHes with one If-Match, exactly one wins; the others are 412', async () => {
      const userId = newUser();
      const id = await createSchedule(userId);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => patch(userId, id, { name: `writer ${i}` }, '"1"')),
      );
      const winners = results.filter((r) => r.status === 200);
      assert.equal(winners.length, 1, results.map((r) => r.status).join(' '));
      for (const loser of results.filter((r) => r.status !== 200)) assertPreconditionFailed(loser);
      const stored = await get(userId, id);
      assert.equal(stored.headers.etag, '"2"');
      assert.deepEqual(stored.body, winners[0].body);
    });
  });

  describe('parallel PATCHes without If-Match', () => {
    const ZONES = ['UTC', 'Europe/Berlin', 'Asia/Shanghai', 'America/New_York', 'Australia/Sydney'];
    const MODES = ['default', 'accept_edits', 'explore', 'bypass', 'dont_ask'];

    /** One PATCH per field, each with a value of its own for round `r`. */
    function fieldPatches(r: number): Array<Record<string, unknown>> {
      return [
        { name: `name ${r}` },
        { description: `description ${r}` },
        { agent_id: `agent-${r}` },
        { timezone: ZONES[r % ZONES.length] },
        { cron_expression: `${(r * 7) % 60} * * * *` },
        { started_at: `2026-01-${String(r + 1).padStart(2, '0')}T00:00:00.000Z` },
        { chat_model_config: { type: 'openai', credential_id: `cred-${r}`, model: `model-${r}`, parameters: { round: r } } },
        { stateful: r % 2 === 0 },
        { permission_mode: MODES[r % MODES.length] },
        { catchup_window_seconds: 100 + r },
      ];
    }

    it('lose no field and keep enabled and next_run_at consistent, round after round', async () => {
      const userId = newUser();
      clock.set('2026-03-10T08:00:00.000Z');
      const id = await createSchedule(userId, { cron_expression: '*/5 * * * *', timezone: 'UTC', stateful: true });
      let version = 1;
      for (let r = 0; r < 6; r++) {
        clock.set(new Date(Date.parse('2026-03-10T08:00:00.000Z') + r * 86_400_000 + r * 61_000));
        const fields = fieldPatches(r);
        // 30 in all: each field once, the rest toggling enabled both ways, interleaved.
        const toggles = Array.from({ length: 30 - fields.length }, (_, i) => ({ enabled: (i + r) % 2 === 0 }));
        const bodies = toggles.flatMap((toggle, i) => (i < fields.length ? [fields[i], toggle] : [toggle]));
        const results = await Promise.all(bodies.map((body) => patch(userId, id, body)));
        for (const res of results) assert.equal(res.status, 200, JSON.stringify(res.body));
        // Every PATCH was applied once, on top of the one before it.
        const etags = results.map((res) => Number(JSON.parse(res.headers.etag))).sort((a, b) => a - b);
        assert.deepEqual(etags, Array.from({ length: bodies.length }, (_, i) => version + 1 + i), `round ${r}`);
        version += bodies.length;

        const stored = await get(userId, id);
        assert.equal(stored.headers.etag, `"${version}"`);
        const { data, agent_id: agentId, next_run_at: nextRunAt } = stored.body;
        assert.deepEqual(
          {
            name: data.name,
            description: data.description,
            agent_id: agentId,
            timezone: data.timezone,
            cron_expression: data.cron_expression,
            started_at: data.started_at,
            chat_model_config: data.chat_model_config,
            stateful: data.stateful,
            permission_mode: data.permission_mode,
            catchup_window_seconds: data.catchup_window_seconds,
          },
          Object.assign({}, ...fields),
          `round ${r}: a field some PATCH set was lost`,
        );
        assert.equal(data.ended_at, null);
        // The cron has future times and there is no end: enabled exactly when there is a next run,
        // and that run is the one the stored cron, zone and window give from now.
        assert.equal(data.enabled, nextRunAt !== null, `round ${r}: enabled ${data.enabled} with next_run_at ${nextRunAt}`);
        const upcoming = (await http().get(`/schedule/${id}/next-runs?count=1`).set('x-user-id', userId).expect(200)).body;
        assert.equal(nextRunAt, upcoming.next_runs[0]?.utc ?? null, `round ${r}: next_run_at is not the stored cron's`);
      }
    });
  });
});
