import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from '@jest/globals';
import request from 'supertest';
import { SchedulerService } from '../src/firing/scheduler.service.js';
import { aCreateBody } from './support/builders.js';
import { createTestApp, type TestApp } from './support/test-app.js';

describe('restarting the service on SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'schedules-restart-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const sqlitePath = join(dir, 'service.sqlite');
  const start = async (at: string) => {
    const started = (await createTestApp('sqlite', { sqlitePath })) as TestApp;
    started.clock.set(at);
    return started;
  };

  it('keeps everything across the restart and catches up on the fires it missed', async () => {
    const user = 'restart-user';
    const first = await start('2027-03-01T08:00:00.000Z');
    const http1 = () => request(first.app.getHttpServer());
    const created = await http1()
      .post('/schedule')
      .set('x-user-id', user)
      .send(aCreateBody({ cron_expression: '* * * * *', timezone: 'UTC', catchup_window_seconds: 300, stateful: true }))
      .expect(201);
    const id = created.body.schedule_id;
    const scheduler1 = first.app.get(SchedulerService);
    for (const at of ['2027-03-01T08:01:00.000Z', '2027-03-01T08:02:00.000Z']) {
      first.clock.set(at);
      await scheduler1.tick();
    }
    const before = (await http1().get(`/schedule/${id}/sessions`).set('x-user-id', user).expect(200)).body;
    assert.equal(before.sessions[0].state.context.length, 2);
    await first.close(); // the service stops at 08:02 …

    const second = await start('2027-03-01T08:20:30.000Z'); // … and is back at 08:20:30
    const http2 = () => request(second.app.getHttpServer());
    await second.app.get(SchedulerService).tick();

    const runs = (await http2().get(`/schedule/${id}/runs`).set('x-user-id', user).expect(200)).body.runs;
    const summary = runs.map((r: { scheduled_for: string; trigger: string; status: string }) => [
      r.scheduled_for.slice(11, 16),
      r.trigger,
      r.status,
    ]);
    // Due 08:03 … 08:20; the window reaches back to 08:15:30.
    const missed = Array.from({ length: 13 }, (_, i) => [`08:${String(15 - i).padStart(2, '0')}`, 'cron', 'missed']);
    assert.deepEqual(summary, [
      ['08:20', 'catchup', 'succeeded'],
      ...missed,
      ['08:02', 'cron', 'succeeded'],
      ['08:01', 'cron', 'succeeded'],
    ]);
    const after = (await http2().get(`/schedule/${id}/sessions`).set('x-user-id', user).expect(200)).body;
    assert.equal(after.total, 1);
    assert.deepEqual(after.sessions[0].state.context.slice(0, 2), before.sessions[0].state.context);
    assert.equal(after.sessions[0].state.context.length, 3);
    const schedule = (await http2().get(`/schedule/${id}`).set('x-user-id', user).expect(200)).body;
    assert.equal(schedule.next_run_at, '2027-03-01T08:21:00.000Z');
    assert.equal(schedule.last_run_at, '2027-03-01T08:20:30.000Z');
    await second.close();
  });
});

describe('the running service (real time)', () => {
  it('fires a 6-field every-second cron while it runs, visible through the sessions route', async () => {
    const running = (await createTestApp('sqlite', {
      realClock: true,
      scheduler: { enabled: true, intervalMs: 100, batchSize: 100 },
    })) as TestApp;
    try {
      const http = () => request(running.app.getHttpServer());
      const created = await http()
        .post('/schedule')
        .set('x-user-id', 'smoke')
        .send(aCreateBody({ cron_expression: '* * * * * *', timezone: 'UTC' }))
        .expect(201);
      const id = created.body.schedule_id;
      const deadline = Date.now() + 10_000;
      let listed = { sessions: [] as Array<{ created_at: string }>, total: 0 };
      while (listed.total < 3 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        listed = (await http().get(`/schedule/${id}/sessions`).set('x-user-id', 'smoke').expect(200)).body;
      }
      assert.ok(listed.total >= 3, `expected 3 sessions within 10 s, got ${listed.total}`);
      const times = listed.sessions.map((s) => Date.parse(s.created_at));
      assert.deepEqual(times, [...times].sort((a, b) => b - a));
      const runs = (await http().get(`/schedule/${id}/runs`).set('x-user-id', 'smoke').expect(200)).body.runs;
      const slots = runs.map((r: { scheduled_for: string }) => Date.parse(r.scheduled_for));
      assert.equal(new Set(slots).size, slots.length);
      assert.ok(runs.every((r: { status: string }) => r.status === 'succeeded'));
    } finally {
      await running.close();
    }
  });
});
