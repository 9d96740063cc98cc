import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import type { Response } from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { aCreateBody, aSchedule } from './support/builders.js';
import { type InjectedReply as Reply, injectJson } from './support/dispatch.js';
import { assertProblem } from './support/problem.js';
import { appStorage, type BackendHandle, describeOnEveryBackend } from './support/test-app.js';

/*
 * Schedules as a fleet, through the API on every backend: labels and the list's label filter; the
 * declarative upsert by key; Idempotency-Key on creates and manual runs; bulk actions.
 */

describeOnEveryBackend('schedules as a fleet', (backend: BackendHandle) => {
  let user: string;
  const call = (method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = {}) =>
    injectJson(backend.app, method, url, { 'x-user-id': user, ...headers }, body);
  const invalidField = (res: Reply, field: string) => {
    assertProblem(res as unknown as Response, 422);
    assert.ok(res.body.errors.some((e: { field: string }) => e.field === field), JSON.stringify(res.body.errors));
  };
  async function create(overrides: Record<string, unknown> = {}): Promise<string> {
    const res = await call('POST', '/schedule', aCreateBody(overrides));
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.schedule_id;
  }
  const ids = async (query: string) => {
    const res = await call('GET', `/schedule${query}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.schedules.map((s: { id: string }) => s.id);
  };

  it('keeps labels on create, replaces them whole on PATCH, and refuses what is not Kubernetes label syntax', async () => {
    user = `user-${uuidv7()}`;
    const id = await create({ labels: { team: 'support', 'example.com/tier': 'gold', empty: '' } });
    assert.deepEqual((await call('GET', `/schedule/${id}`)).body.data.labels, { team: 'support', 'example.com/tier': 'gold', empty: '' });
    const patched = await call('PATCH', `/schedule/${id}`, { labels: { env: 'prod' } });
    assert.deepEqual(patched.body.data.labels, { env: 'prod' });
    assert.deepEqual((await call('PATCH', `/schedule/${id}`, { name: 'renamed' })).body.data.labels, { env: 'prod' });
    const tooMany = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v']));
    for (const bad of [{ '-team': 'x' }, { team: 'has space' }, { 'Upper.Case/x': 'v' }, { ['x'.repeat(64)]: 'v' }, { team: 1 }, tooMany, ['team'], null]) {
      invalidField(await call('PATCH', `/schedule/${id}`, { labels: bad }), 'labels');
    }
    assert.equal((await create({ labels: {} })).length > 0, true);
  });

  it('filters the list by label=key=value and by a bare key, every selector at once, with status and pages', async () => {
    user = `user-${uuidv7()}`;
    const a = await create({ labels: { team: 'support', env: 'prod' } });
    const b = await create({ labels: { team: 'support' }, enabled: false });
    const c = await create({ labels: { team: 'sales', env: 'dev' } });
    assert.deepEqual(await ids('?label=team=support'), [b, a]);
    assert.deepEqual(await ids('?label=env'), [c, a]);
    assert.deepEqual(await ids('?label=team=support&label=env'), [a]);
    assert.deepEqual(await ids('?label=team&status=paused'), [b]);
    assert.deepEqual(await ids('?label=team=nobody'), []);
    const first = await call('GET', '/schedule?label=team&limit=2');
    assert.deepEqual([first.body.schedules.length, first.body.total], [2, 3]);
    const rest = await call('GET', `/schedule?label=team&limit=2&cursor=${encodeURIComponent(first.body.next_cursor)}`);
    assert.deepEqual(rest.body.schedules.map((s: { id: string }) => s.id), [a]);
    invalidField(await call('GET', '/schedule?label=bad key'), 'label');
    invalidField(await call('GET', '/schedule?label=team=has space'), 'label');
    invalidField(await call('GET', `/schedule?${Array.from({ length: 11 }, (_, i) => `label=k${i}`).join('&')}`), 'label');
  });

  describe('PUT /schedule/by-key/{key}', () => {
    const put = (key: string, body: Record<string, unknown>, headers: Record<string, string> = {}) => call('PUT', `/schedule/by-key/${key}`, aCreateBody(body), headers);

    it('creates (201) then replaces (200) the schedule of a key, with ETags; an unchanged body keeps the version; the key is data.key', async () => {
      user = `user-${uuidv7()}`;
      const created = await put('support.digest:v1', { name: 'Digest', labels: { team: 'support' } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual([created.body.data.key, created.body.data.name, created.headers.etag], ['support.digest:v1', 'Digest', '"1"']);
      const again = await put('support.digest:v1', { name: 'Digest', labels: { team: 'support' } });
      assert.deepEqual([again.status, again.body.id, again.headers.etag], [200, created.body.id, '"1"']);
      // A PUT is the whole schedule: what it leaves out goes back to its default.
      const replaced = await put('support.digest:v1', { name: 'Digest v2' });
      assert.deepEqual([replaced.status, replaced.body.id, replaced.headers.etag, replaced.body.data.labels], [200, created.body.id, '"2"', {}]);
      assert.deepEqual(await ids(''), [created.body.id]);
      const byId = await call('GET', `/schedule/${created.body.id}`);
      assert.deepEqual([byId.body.data.key, byId.body.data.name], ['support.digest:v1', 'Digest v2']);
    });

    it('honours If-Match, refuses a bad key or body, and keeps users apart', async () => {
      user = `user-${uuidv7()}`;
      assertProblem((await put('k', {}, { 'if-match': '"1"' })) as unknown as Response, 412);
      assert.equal((await put('k', {})).status, 201);
      assertProblem((await put('k', { name: 'x' }, { 'if-match': '"7"' })) as unknown as Response, 412);
      assert.equal((await put('k', { name: 'x' }, { 'if-match': '"1"' })).status, 200);
      invalidField(await put('has space', {}), 'key');
      invalidField(await put('x'.repeat(129), {}), 'key');
      invalidField(await put('k', { cron_expression: 'nope' }), 'cron_expression');
      const first = user;
      user = `user-${uuidv7()}`;
      assert.equal((await put('k', {})).status, 201);
      user = first;
      assert.equal((await ids('')).length, 1);
    });

    it('leaves exactly one schedule of 100 concurrent identical PUTs, none of them a 5xx', async () => {
      user = `user-${uuidv7()}`;
      const answers = await Promise.all(Array.from({ length: 100 }, () => put('fleet-1', { name: 'Same' })));
      assert.deepEqual([...new Set(answers.map((a) => a.status))].sort(), [200, 201]);
      assert.equal(answers.filter((a) => a.status === 201).length, 1);
      assert.equal(new Set(answers.map((a) => a.body.id)).size, 1);
      assert.equal((await ids('')).length, 1);
    });
  });

  describe('Idempotency-Key', () => {
    const createWith = (key: string, body: Record<string, unknown> = {}) => call('POST', '/schedule', aCreateBody(body), { 'idempotency-key': key });

    it('answers a retried create with the first answer and creates nothing more; another body with the key is 422', async () => {
      user = `user-${uuidv7()}`;
      const first = await createWith('create-1', { name: 'A' });
      const again = await createWith('create-1', { name: 'A' });
      assert.deepEqual([first.status, again.status, again.body], [201, 201, first.body]);
      assert.deepEqual(await ids(''), [first.body.schedule_id]);
      const reused = await createWith('create-1', { name: 'B' });
      assertProblem(reused as unknown as Response, 422);
      assert.ok(reused.body.type.endsWith(':idempotency-key-reused'), reused.body.type);
      // Keys are per user; a key after its day starts afresh.
      const mine = user;
      user = `user-${uuidv7()}`;
      assert.notEqual((await createWith('create-1', { name: 'B' })).body.schedule_id, first.body.schedule_id);
      user = mine;
      backend.clock.advance(24 * 3600_000 + 1);
      const later = await createWith('create-1', { name: 'B' });
      assert.equal(later.status, 201);
      assert.equal((await ids('')).length, 2);
    });

    it('gives 20 concurrent creates with one key one schedule and the same answer', async () => {
      user = `user-${uuidv7()}`;
      const answers = await Promise.all(Array.from({ length: 20 }, () => createWith('burst', { name: 'Same' })));
      assert.deepEqual([...new Set(answers.map((a) => a.status))], [201]);
      assert.equal(new Set(answers.map((a) => a.body.schedule_id)).size, 1);
      assert.equal((await ids('')).length, 1);
    });

    it('answers a retried manual run with the first run, running nothing more; frees the key after an error; refuses a malformed key', async () => {
      user = `user-${uuidv7()}`;
      const id = await create({ overlap_policy: 'allow' });
      const run = () => call('POST', `/schedule/${id}/run`, undefined, { 'idempotency-key': 'run-1' });
      const first = await run();
      const again = await run();
      assert.deepEqual([first.status, again.status, again.body.run.id], [202, 202, first.body.run.id]);
      assert.equal((await call('GET', `/schedule/${id}/runs`)).body.total, 1);
      // The same key on another schedule's run is another request.
      const other = await create();
      assertProblem((await call('POST', `/schedule/${other}/run`, undefined, { 'idempotency-key': 'run-1' })) as unknown as Response, 422);
      // A request that failed keeps nothing: the key is free for the corrected one.
      invalidField(await createWith('fix-me', { cron_expression: 'nope' }), 'cron_expression');
      assert.equal((await createWith('fix-me', {})).status, 201);
      invalidField(await createWith('x'.repeat(256)), 'Idempotency-Key');
      invalidField(await createWith('has space'), 'Idempotency-Key');
    });
  });

  describe('POST /schedule/bulk', () => {
    const bulk = (body: unknown) => call('POST', '/schedule/bulk', body);
    const enabled = async (id: string) => (await call('GET', `/schedule/${id}`)).body.data.enabled;

    it('pauses, resumes and deletes what every selector matches, counting what it matched and what it changed', async () => {
      user = `user-${uuidv7()}`;
      const a = await create({ labels: { team: 'support' }, agent_id: 'agent-a' });
      const b = await create({ labels: { team: 'support' }, agent_id: 'agent-b' });
      const c = await create({ labels: { team: 'sales' }, agent_id: 'agent-a' });
      const paused = await bulk({ action: 'pause', labels: { team: 'support' } });
      assert.deepEqual([paused.status, paused.body], [200, { matched: 2, changed: 2 }]);
      assert.deepEqual([await enabled(a), await enabled(b), await enabled(c)], [false, false, true]);
      assert.equal((await call('GET', `/schedule/${a}`)).body.data.paused_reason, 'user');
      assert.deepEqual((await bulk({ action: 'pause', labels: { team: 'support' } })).body, { matched: 2, changed: 0 });
      assert.deepEqual((await bulk({ action: 'resume', labels: { team: 'support' }, agent_id: 'agent-a' })).body, { matched: 1, changed: 1 });
      assert.deepEqual([await enabled(a), await enabled(b)], [true, false]);
      assert.deepEqual((await bulk({ action: 'resume', ids: [a, b, c, 'not-mine'] })).body, { matched: 3, changed: 1 });
      assert.deepEqual((await bulk({ action: 'delete', agent_id: 'agent-a' })).body, { matched: 2, changed: 2 });
      assert.deepEqual(await ids(''), [b]);
    });

    it("acts on the caller's schedules only, and refuses a call without a selector, a bad action, or more than 1 000 ids", async () => {
      user = `user-${uuidv7()}`;
      const mine = await create({ labels: { team: 'support' } });
      user = `user-${uuidv7()}`;
      assert.deepEqual((await bulk({ action: 'delete', ids: [mine] })).body, { matched: 0, changed: 0 });
      assert.deepEqual((await bulk({ action: 'delete', labels: { team: 'support' } })).body, { matched: 0, changed: 0 });
      invalidField(await bulk({ action: 'pause' }), 'ids');
      invalidField(await bulk({ action: 'archive', ids: [mine] }), 'action');
      const tooMany = await bulk({ action: 'pause', ids: Array.from({ length: 1001 }, (_, i) => `id-${i}`) });
      invalidField(tooMany, 'ids');
      assert.match(JSON.stringify(tooMany.body.errors), /1001 ids/);
      invalidField(await bulk({ action: 'pause', labels: { 'bad key': 'x' } }), 'labels');
    });

    it('refuses selectors that match more than 1 000 schedules, naming how many, and changes none', async () => {
      user = `user-${uuidv7()}`;
      const storage = appStorage(backend.app);
      const seeded = Array.from({ length: 1001 }, () => aSchedule({ userId: user, labels: { fleet: 'big' } }));
      for (let i = 0; i < seeded.length; i += 100) await Promise.all(seeded.slice(i, i + 100).map((s) => storage.schedules.createSchedule(s)));
      const refused = await bulk({ action: 'pause', labels: { fleet: 'big' } });
      invalidField(refused, 'ids');
      assert.match(JSON.stringify(refused.body.errors), /match 1001 schedules/);
      assert.equal((await call('GET', '/schedule?status=paused&limit=1')).body.total, 0);
    });
  });
});
