import assert from 'node:assert/strict';
import { beforeAll, describe, it } from '@jest/globals';
import request from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { fireWrite } from '../src/domain/fire.js';
import { PRUNE_BATCH_SIZE, PRUNE_INTERVAL_MS, SchedulerService } from '../src/firing/scheduler.service.js';
import { aCreateBody } from './support/builders.js';
import { appStorage, describeOnEveryBackend } from './support/test-app.js';

// history_limit: the ticker prunes sessions and runs beyond a schedule's newest N, in batches,
// never on the request path and never the stateful session.
describeOnEveryBackend('history limit', (backend) => {
  const { clock } = backend;
  let scheduler: SchedulerService;
  beforeAll(() => {
    scheduler = backend.app.get(SchedulerService);
  });
  const http = () => request(backend.app.getHttpServer());
  const userId = `history-${uuidv7()}`;

  async function create(overrides: Record<string, unknown>): Promise<string> {
    const res = await http().post('/schedule').set('x-user-id', userId).send(aCreateBody(overrides)).expect(201);
    return res.body.schedule_id;
  }
  /** Fires the schedule by hand `times` times, a minute apart (record-only mode: each run succeeds at once). */
  async function fire(id: string, times: number): Promise<void> {
    for (let i = 0; i < times; i++) {
      clock.advance(60_000);
      await http().post(`/schedule/${id}/run`).set('x-user-id', userId).send().expect(202);
    }
  }
  const sessions = async (id: string) => (await http().get(`/schedule/${id}/sessions`).set('x-user-id', userId).expect(200)).body;
  const runs = async (id: string) => (await http().get(`/schedule/${id}/runs`).set('x-user-id', userId).expect(200)).body;
  /** A tick far enough after the last prune that this one prunes. */
  async function tickPruning(): Promise<void> {
    clock.advance(PRUNE_INTERVAL_MS);
    await scheduler.tick();
  }

  it('keeps the newest N sessions and runs once the ticker has run, and only then', async () => {
    const id = await create({ history_limit: 3, cron_expression: '0 0 1 1 *' });
    await fire(id, 7);
    // The request path does not prune: all seven are there until the ticker runs.
    assert.equal((await sessions(id)).total, 7);
    const newest = (await sessions(id)).sessions.slice(0, 3).map((s: { id: string }) => s.id);
    const newestRuns = (await runs(id)).runs.slice(0, 3).map((r: { id: string }) => r.id);

    await tickPruning();
    const kept = await sessions(id);
    assert.equal(kept.total, 3);
    assert.deepEqual(kept.sessions.map((s: { id: string }) => s.id), newest);
    const keptRuns = await runs(id);
    assert.equal(keptRuns.total, 3);
    assert.deepEqual(keptRuns.runs.map((r: { id: string }) => r.id), newestRuns);
  });

  it('never prunes the stateful session, and prunes its runs', async () => {
    const id = await create({ history_limit: 1, stateful: true, cron_expression: '0 0 1 1 *' });
    await fire(id, 4);
    await tickPruning();
    const kept = await sessions(id);
    assert.equal(kept.total, 1);
    assert.equal(kept.sessions[0].id, `${id}_stateful`);
    assert.equal(kept.sessions[0].state.context.length, 4);
    assert.equal((await runs(id)).total, 1);
  });

  it('keeps everything without a limit, and prunes once a PATCH sets one', async () => {
    const id = await create({ cron_expression: '0 0 1 1 *' });
    await fire(id, 5);
    await tickPruning();
    assert.equal((await sessions(id)).total, 5);
    await http().patch(`/schedule/${id}`).set('x-user-id', userId).send({ history_limit: 2 }).expect(200);
    await tickPruning();
    assert.equal((await sessions(id)).total, 2);
    assert.equal((await runs(id)).total, 2);
  });

  describe('in batches', () => {
    it(`deletes at most ${PRUNE_BATCH_SIZE} rows per prune, and prunes again at the next tick while there is more`, async () => {
      const storage = appStorage(backend.app);
      const id = await create({ cron_expression: '0 0 1 1 *' });
      // More history than one batch, written straight through the port (a few thousand requests would be slow).
      const schedule = (await storage.schedules.getSchedule(userId, id))!;
      const total = PRUNE_BATCH_SIZE + 200;
      for (let i = 0; i < total; i++) await storage.firing.recordFire(fireWrite(schedule, new Date(clock.now().getTime() + i)));
      await http().patch(`/schedule/${id}`).set('x-user-id', userId).send({ history_limit: 100 }).expect(200);

      await tickPruning();
      const afterOne = (await sessions(id)).total + (await runs(id)).total;
      assert.equal(afterOne, 2 * total - PRUNE_BATCH_SIZE, 'one batch per prune');
      // More was left: the next tick prunes again without waiting for the interval.
      await scheduler.tick();
      await scheduler.tick();
      assert.equal((await sessions(id)).total, 100);
      assert.equal((await runs(id)).total, 100);
    });
  });
});
