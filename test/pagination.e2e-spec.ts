import assert from 'node:assert/strict';
import { it } from '@jest/globals';
import request from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { aCreateBody } from './support/builders.js';
import { describeOnEveryBackend } from './support/test-app.js';

describeOnEveryBackend('pagination', (backend) => {
  const { clock } = backend;
  const http = () => request(backend.app.getHttpServer());
  const userId = `user-${uuidv7()}`;
  let scheduleId = '';

  it('pages sessions and runs with a cursor, keeping the total of all of them', async () => {
    const created = await http().post('/schedule').set('x-user-id', userId).send(aCreateBody()).expect(201);
    scheduleId = created.body.schedule_id;
    for (let i = 0; i < 7; i++) {
      clock.set(new Date(Date.parse('2026-09-01T09:00:00.000Z') + Math.floor(i / 3) * 1000));
      await http().post(`/schedule/${scheduleId}/run`).set('x-user-id', userId).expect(202);
    }
    for (const [route, key] of [['sessions', 'sessions'], ['runs', 'runs']]) {
      const all = (await http().get(`/schedule/${scheduleId}/${route}`).set('x-user-id', userId).expect(200)).body;
      assert.equal(all[key].length, 7);
      assert.equal('next_cursor' in all, false);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const query: Record<string, string | number> = { limit: 3, ...(cursor ? { cursor } : {}) };
        const page = (await http().get(`/schedule/${scheduleId}/${route}`).query(query).set('x-user-id', userId).expect(200)).body;
        assert.equal(page.total, 7);
        seen.push(...page[key].map((x: { id: string }) => x.id));
        cursor = page.next_cursor;
      } while (cursor);
      assert.deepEqual(seen, all[key].map((x: { id: string }) => x.id));
    }
  });

  const bad: Array<[string, Record<string, string>, string]> = [
    ['a limit of 0', { limit: '0' }, 'limit'],
    ['a limit over 500', { limit: '501' }, 'limit'],
    ['a limit that is not a number', { limit: 'ten' }, 'limit'],
    ['a cursor this service did not issue', { limit: '2', cursor: 'bm9wZQ' }, 'cursor'],
    ['a cursor of garbage', { limit: '2', cursor: '%%%' }, 'cursor'],
    ['a cursor without a limit', { cursor: 'bm9wZQ' }, 'cursor'],
  ];
  for (const [what, query, field] of bad) {
    it(`answers ${what} with 422 naming ${field}`, async () => {
      for (const route of ['sessions', 'runs']) {
        const res = await http().get(`/schedule/${scheduleId}/${route}`).query(query).set('x-user-id', userId);
        assert.equal(res.status, 422, JSON.stringify(res.body));
        assert.match(res.headers['content-type'], /application\/problem\+json/);
        assert.deepEqual([...new Set(res.body.errors.map((e: { field: string }) => e.field))], [field]);
      }
    });
  }

  it('answers 404, not a page, for another user’s schedule', async () => {
    await http().get(`/schedule/${scheduleId}/sessions?limit=2`).set('x-user-id', 'stranger').expect(404);
    await http().get(`/schedule/${scheduleId}/runs?limit=2`).set('x-user-id', 'stranger').expect(404);
  });
});
