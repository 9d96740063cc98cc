import assert from 'node:assert/strict';
import { it } from '@jest/globals';
import type { Response } from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { aCreateBody } from './support/builders.js';
import { aRuntimeToken, type InjectedReply as Reply, injectJson, undeliveredDispatch } from './support/dispatch.js';
import { assertProblem } from './support/problem.js';
import { type BackendHandle, describeOnEveryBackend } from './support/test-app.js';

/*
 * Budgets and each schedule's health through the API, on every backend: a budget's limits and
 * its period in the schedule's zone (on the injected clock), 409 for a manual fire past it, the
 * stats as runs end through the runtime's reports, and the list's filters and pages. Fires are
 * dispatched but never delivered, so runs end only as reported.
 */

const RUNTIME_TOKEN = aRuntimeToken();

describeOnEveryBackend(
  'budgets and stats',
  (backend: BackendHandle) => {
    let user: string;
    const call = (method: 'GET' | 'POST' | 'PATCH', url: string, body?: unknown) => injectJson(backend.app, method, url, { 'x-user-id': user }, body);
    const report = (runId: string, body: unknown) =>
      injectJson(backend.app, 'POST', `/runtime/runs/${runId}/status`, { authorization: `Bearer ${RUNTIME_TOKEN}` }, body);
    const problem = (res: Reply, status: number) => assertProblem(res as unknown as Response, status);
    const invalidField = (res: Reply, field: string) => {
      problem(res, 422);
      assert.ok(
        res.body.errors.some((e: { field: string }) => e.field === field || e.field.startsWith(`${field}.`)),
        JSON.stringify(res.body.errors),
      );
    };
    async function create(overrides: Record<string, unknown> = {}, newUser = true): Promise<string> {
      if (newUser) user = `user-${uuidv7()}`;
      const res = await call('POST', '/schedule', aCreateBody(overrides));
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.schedule_id;
    }
    const get = async (id: string) => {
      const res = await call('GET', `/schedule/${id}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body;
    };
    const run = async (id: string) => {
      const res = await call('POST', `/schedule/${id}/run`);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      return res.body.run.id as string;
    };

    it('takes a budget on create and PATCH, refuses one that limits nothing or is malformed, and removes it with null', async () => {
      const id = await create({ budget: { period: 'week', max_runs: 10 } });
      assert.deepEqual((await get(id)).data.budget, { period: 'week', max_runs: 10, max_tokens: null, max_cost_usd: null });
      invalidField(await call('PATCH', `/schedule/${id}`, { budget: { period: 'day' } }), 'budget');
      for (const bad of [
        { period: 'year', max_runs: 1 },
        { period: 'day', max_runs: 0 },
        { period: 'day', max_runs: 1.5 },
        { period: 'day', max_tokens: -1 },
        { period: 'day', max_cost_usd: 0 },
        { period: 'day', max_cost_usd: 'a lot' },
        { period: 'day', max_runs: 1, hourly: 3 },
        'daily',
      ]) {
        invalidField(await call('PATCH', `/schedule/${id}`, { budget: bad }), 'budget');
      }
      const patched = await call('PATCH', `/schedule/${id}`, { budget: { period: 'month', max_cost_usd: 12.5 } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.deepEqual(patched.body.data.budget, { period: 'month', max_runs: null, max_tokens: null, max_cost_usd: 12.5 });
      const removed = await call('PATCH', `/schedule/${id}`, { budget: null });
      assert.deepEqual([removed.body.data.budget, removed.body.stats.period], [null, null]);
    });

    it("refuses a manual fire past max_runs in the zone's day with 409 naming the reset, and fires again the next day", async () => {
      // Asia/Shanghai: midnight is 16:00 UTC.
      backend.clock.set('2026-03-02T08:00:00.000Z');
      const id = await create({ timezone: 'Asia/Shanghai', overlap_policy: 'allow', budget: { period: 'day', max_runs: 2 } });
      const fresh = (await get(id)).stats.period;
      assert.deepEqual(fresh, {
        starts_at: '2026-03-01T16:00:00.000Z',
        resets_at: '2026-03-02T16:00:00.000Z',
        runs: 0,
        input_tokens: 0,
        output_tokens: 0,
        cost_usd: 0,
        exhausted: false,
      });
      await run(id);
      await run(id);
      const refused = await call('POST', `/schedule/${id}/run`);
      problem(refused, 409);
      assert.ok(refused.body.type.endsWith(':budget-exhausted'), refused.body.type);
      assert.equal(refused.body.resets_at, '2026-03-02T16:00:00.000Z');
      const exhausted = await get(id);
      assert.deepEqual([exhausted.stats.period.runs, exhausted.stats.period.exhausted, exhausted.stats.fires], [2, true, 2]);
      const listed = await call('GET', '/schedule?status=budget_exhausted');
      assert.deepEqual(listed.body.schedules.map((s: { id: string }) => s.id), [id]);

      backend.clock.set('2026-03-02T16:00:00.000Z');
      assert.equal((await get(id)).stats.period.exhausted, false);
      assert.deepEqual((await call('GET', '/schedule?status=budget_exhausted')).body.schedules, []);
      await run(id);
      assert.deepEqual((await get(id)).stats.period.starts_at, '2026-03-02T16:00:00.000Z');
    });

    it('counts reported usage into the period and refuses fires once the cost limit is reached', async () => {
      backend.clock.set('2026-03-04T01:00:00.000Z');
      const id = await create({ timezone: 'UTC', overlap_policy: 'allow', budget: { period: 'day', max_cost_usd: 1 } });
      const first = await run(id);
      assert.equal((await report(first, { status: 'succeeded', usage: { input_tokens: 900, output_tokens: 100, cost_usd: 1.2 } })).status, 200);
      const { stats } = await get(id);
      assert.deepEqual(
        [stats.period.input_tokens, stats.period.output_tokens, stats.period.cost_usd, stats.period.exhausted, stats.succeeded],
        [900, 100, 1.2, true, 1],
      );
      problem(await call('POST', `/schedule/${id}/run`), 409);
    });

    it('keeps the stats as runs end: counts, the last success and failure, the last error, the failure streak', async () => {
      backend.clock.set('2026-03-05T01:00:00.000Z');
      const id = await create({ overlap_policy: 'allow' });
      const ok = await run(id);
      const bad = await run(id);
      assert.equal((await report(ok, { status: 'succeeded' })).status, 200);
      backend.clock.set('2026-03-05T01:00:05.000Z');
      assert.equal((await report(bad, { status: 'failed', error: 'the tool crashed' })).status, 200);
      const { stats } = await get(id);
      assert.deepEqual(stats, {
        fires: 2,
        succeeded: 1,
        failed: 1,
        timed_out: 0,
        skipped: 0,
        missed: 0,
        consecutive_failures: 1,
        last_success_at: '2026-03-05T01:00:00.000Z',
        last_failure_at: '2026-03-05T01:00:05.000Z',
        last_error: 'the tool crashed',
        period: null,
      });
    });

    it('filters the list by status and agent, pages it, and refuses a status it does not know', async () => {
      backend.clock.set('2026-03-06T01:00:00.000Z');
      const a = await create({ agent_id: 'agent-a', overlap_policy: 'allow' });
      const b = await create({ agent_id: 'agent-b', enabled: false }, false);
      const c = await create({ agent_id: 'agent-a', overlap_policy: 'allow' }, false);
      assert.equal((await report(await run(c), { status: 'failed', error: 'x' })).status, 200);
      const ids = async (query: string) => {
        const res = await call('GET', `/schedule${query}`);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        return res.body.schedules.map((s: { id: string }) => s.id);
      };
      assert.deepEqual(await ids(''), [c, b, a]);
      assert.deepEqual(await ids('?status=active'), [c, a]);
      assert.deepEqual(await ids('?status=paused'), [b]);
      assert.deepEqual(await ids('?status=failing'), [c]);
      assert.deepEqual(await ids('?agent_id=agent-a'), [c, a]);
      assert.deepEqual(await ids('?agent_id=agent-a&status=failing'), [c]);

      const first = await call('GET', '/schedule?limit=2');
      assert.deepEqual([first.body.schedules.length, first.body.total], [2, 3]);
      const second = await call('GET', `/schedule?limit=2&cursor=${encodeURIComponent(first.body.next_cursor)}`);
      assert.deepEqual([second.body.schedules.map((s: { id: string }) => s.id), second.body.next_cursor], [[a], null]);
      invalidField(await call('GET', '/schedule?status=broken'), 'status');
      invalidField(await call('GET', '/schedule?cursor=abc'), 'cursor');
    });
  },
  { dispatch: undeliveredDispatch(), runtimeToken: RUNTIME_TOKEN },
);
