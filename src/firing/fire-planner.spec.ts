import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { MAX_MISSED_RUNS_RECORDED, planDueFire } from './fire-planner.js';
import { nextFireAfter } from './cron.js';
import type { Schedule } from '../domain/schedule.js';
import { aSchedule } from '../../test/support/builders.js';

/** A daily 09:00 UTC schedule, open-ended; override what a test is about. */
const schedule = (overrides: Partial<Schedule> = {}): Schedule =>
  aSchedule({ id: 'sched-1', timezone: 'UTC', cronExpression: '0 9 * * *', startedAt: null, ...overrides });

const d = (iso: string) => new Date(iso);
const iso = (at: Date | null | undefined) => at?.toISOString() ?? null;

const NOT_LISTED = '; later missed fire times before the catch-up window are not listed';

describe('planDueFire', () => {
  it('fires a single due time with trigger cron and moves nextRunAt to the next fire time', () => {
    const s = schedule({ nextRunAt: d('2026-05-04T09:00:00Z') });
    const now = d('2026-05-04T09:00:05Z');
    const plan = planDueFire(s, now);

    assert.equal(plan.scheduleId, 'sched-1');
    assert.deepEqual(plan.unfired, []);
    assert.equal(iso(plan.nextRunAt), '2026-05-05T09:00:00.000Z');
    assert.ok(plan.fire);
    assert.equal(plan.fire.run.trigger, 'cron');
    assert.equal(plan.fire.run.status, 'succeeded');
    assert.equal(iso(plan.fire.run.scheduledFor), '2026-05-04T09:00:00.000Z');
    assert.equal(iso(plan.fire.run.firedAt), '2026-05-04T09:00:05.000Z');
    assert.equal(iso(plan.fire.firedAt), '2026-05-04T09:00:05.000Z');
    assert.equal(plan.fire.run.scheduleId, 'sched-1');
    assert.equal(plan.fire.run.sessionId, plan.fire.session.id);
    assert.equal(plan.fire.session.sourceScheduleId, 'sched-1');
  });

  it('hands the fire to the runtime when dispatching: a pending run under the schedule\'s policy', () => {
    const s = schedule({ nextRunAt: d('2026-05-04T09:00:00Z'), overlapPolicy: 'allow', runTimeoutSeconds: 60 });
    const plan = planDueFire(s, d('2026-05-04T09:00:05Z'), true);
    assert.ok(plan.fire);
    assert.equal(plan.fire.run.status, 'pending');
    assert.equal(iso(plan.fire.run.timeoutAt), '2026-05-04T09:01:05.000Z');
    assert.deepEqual(plan.fire.dispatch, { overlapPolicy: 'allow', runTimeoutSeconds: 60 });
    assert.equal(planDueFire(s, d('2026-05-04T09:00:05Z')).fire?.dispatch, null);
  });

  it('fires a time that is exactly now, even with a catch-up window of 0', () => {
    const s = schedule({ nextRunAt: d('2026-05-04T09:00:00Z'), catchupWindowSeconds: 0 });
    const plan = planDueFire(s, d('2026-05-04T09:00:00Z'));
    assert.equal(plan.fire?.run.trigger, 'cron');
    assert.equal(iso(plan.fire?.run.scheduledFor), '2026-05-04T09:00:00.000Z');
    assert.deepEqual(plan.unfired, []);
    assert.equal(iso(plan.nextRunAt), '2026-05-05T09:00:00.000Z');
  });

  it('coalesces several pending times inside the window into one catchup fire for the latest', () => {
    const s = schedule({ cronExpression: '* * * * *', nextRunAt: d('2026-05-04T09:00:00Z') });
    const plan = planDueFire(s, d('2026-05-04T09:03:30Z'));
    assert.deepEqual(plan.unfired, []);
    assert.equal(plan.fire?.run.trigger, 'catchup');
    assert.equal(iso(plan.fire?.run.scheduledFor), '2026-05-04T09:03:00.000Z');
    assert.equal(iso(plan.fire?.run.firedAt), '2026-05-04T09:03:30.000Z');
    assert.equal(iso(plan.nextRunAt), '2026-05-04T09:04:00.000Z');
  });

  it('keeps a time exactly one window old inside the window, and misses it a millisecond later', () => {
    const s = schedule({ nextRunAt: d('2026-05-04T09:00:00Z'), catchupWindowSeconds: 300 });

    const onEdge = planDueFire(s, d('2026-05-04T09:05:00.000Z'));
    assert.equal(onEdge.fire?.run.trigger, 'cron');
    assert.equal(iso(onEdge.fire?.run.scheduledFor), '2026-05-04T09:00:00.000Z');
    assert.deepEqual(onEdge.unfired, []);

    const past = planDueFire(s, d('2026-05-04T09:05:00.001Z'));
    assert.equal(past.fire, null);
    assert.equal(past.unfired.length, 1);
    assert.equal(iso(past.unfired[0].scheduledFor), '2026-05-04T09:00:00.000Z');
    assert.equal(iso(past.nextRunAt), '2026-05-05T09:00:00.000Z');
  });

  it('gives the lateness of a missed run in whole seconds, rounded', () => {
    const s = schedule({ nextRunAt: d('2026-05-04T09:00:00Z'), catchupWindowSeconds: 300 });
    const plan = planDueFire(s, d('2026-05-04T09:05:00.600Z'));
    assert.equal(plan.unfired[0].error, 'not fired: 301 s late, beyond the catch-up window of 300 s');
  });

  it('records times older than the window as missed runs, with how late they were', () => {
    const s = schedule({ cronExpression: '0 * * * *', nextRunAt: d('2026-05-04T06:00:00Z') });
    const plan = planDueFire(s, d('2026-05-04T08:30:00Z'));

    assert.equal(plan.fire, null);
    assert.equal(iso(plan.nextRunAt), '2026-05-04T09:00:00.000Z');
    assert.deepEqual(
      plan.unfired.map((r) => ({ ...r, id: typeof r.id })),
      [
        ['2026-05-04T06:00:00Z', 9000],
        ['2026-05-04T07:00:00Z', 5400],
        ['2026-05-04T08:00:00Z', 1800],
      ].map(([at, late]) => ({
        id: 'string',
        scheduleId: 'sched-1',
        userId: 'alice',
        sessionId: null,
        trigger: 'cron',
        scheduledFor: d(at as string),
        firedAt: null,
        status: 'missed',
        error: `not fired: ${late} s late, beyond the catch-up window of 300 s`,
        skipReason: null,
        finishedAt: null,
        timeoutAt: null,
        usage: null,
        overrides: null,
        replayOf: null,
        gaveUp: false,
      })),
    );
    assert.equal(new Set(plan.unfired.map((r) => r.id)).size, 3);
  });

  it('records missed times and still fires the latest time inside the window', () => {
    const s = schedule({ cronExpression: '0 * * * *', nextRunAt: d('2026-05-04T07:00:00Z') });
    const plan = planDueFire(s, d('2026-05-04T09:02:00Z'));
    assert.deepEqual(
      plan.unfired.map((r) => iso(r.scheduledFor)),
      ['2026-05-04T07:00:00.000Z', '2026-05-04T08:00:00.000Z'],
    );
    assert.ok(plan.unfired.every((r) => r.status === 'missed'));
    assert.equal(iso(plan.fire?.run.scheduledFor), '2026-05-04T09:00:00.000Z');
    assert.equal(iso(plan.fire?.run.firedAt), '2026-05-04T09:02:00.000Z');
    assert.equal(iso(plan.nextRunAt), '2026-05-04T10:00:00.000Z');
  });

  it('records at most MAX_MISSED_RUNS_RECORDED missed runs, the last saying later ones are not listed', () => {
    assert.equal(MAX_MISSED_RUNS_RECORDED, 100);
    const s = schedule({ cronExpression: '* * * * *', nextRunAt: d('2026-05-04T00:00:00Z') });
    const now = d('2026-05-04T09:00:30Z');
    const plan = planDueFire(s, now);

    assert.equal(plan.unfired.length, MAX_MISSED_RUNS_RECORDED);
    assert.equal(iso(plan.unfired[0].scheduledFor), '2026-05-04T00:00:00.000Z');
    assert.equal(iso(plan.unfired[99].scheduledFor), '2026-05-04T01:39:00.000Z');
    for (const run of plan.unfired.slice(0, -1)) {
      assert.ok(!run.error?.includes('not listed'), run.error ?? '');
    }
    assert.equal(
      plan.unfired[99].error,
      `not fired: ${(now.getTime() - d('2026-05-04T01:39:00Z').getTime()) / 1000} s late, beyond the catch-up window of 300 s${NOT_LISTED}`,
    );
    // The window starts 08:55:30: 08:56 … 09:00 coalesce into one catchup fire.
    assert.equal(plan.fire?.run.trigger, 'catchup');
    assert.equal(iso(plan.fire?.run.scheduledFor), '2026-05-04T09:00:00.000Z');
    assert.equal(iso(plan.nextRunAt), '2026-05-04T09:01:00.000Z');
  });

  it('says nothing about unlisted times when exactly MAX_MISSED_RUNS_RECORDED were missed', () => {
    const s = schedule({ cronExpression: '* * * * *', catchupWindowSeconds: 60, nextRunAt: d('2026-05-04T00:00:00Z') });
    // Window starts 01:40:00: 00:00 … 01:39 (100 times) are missed, 01:40 and 01:41 coalesce.
    const plan = planDueFire(s, d('2026-05-04T01:41:00Z'));
    assert.equal(plan.unfired.length, 100);
    assert.ok(plan.unfired.every((r) => !r.error?.includes('not listed')));
    assert.equal(iso(plan.unfired[99].scheduledFor), '2026-05-04T01:39:00.000Z');
    assert.equal(plan.fire?.run.trigger, 'catchup');
    assert.equal(iso(plan.fire?.run.scheduledFor), '2026-05-04T01:41:00.000Z');
    assert.equal(iso(plan.nextRunAt), '2026-05-04T01:42:00.000Z');
  });

  it('flags the 100th missed run when the 101st was missed too, and jumps to the window', () => {
    const s = schedule({ cronExpression: '* * * * *', catchupWindowSeconds: 60, nextRunAt: d('2026-05-04T00:00:00Z') });
    // Window starts 01:41:00: 00:00 … 01:40 (101 times) are missed, 01:41 and 01:42 coalesce.
    const plan = planDueFire(s, d('2026-05-04T01:42:00Z'));
    assert.equal(plan.unfired.length, 100);
    assert.ok(plan.unfired[99].error?.endsWith(NOT_LISTED));
    assert.ok(plan.unfired.slice(0, -1).every((r) => !r.error?.includes('not listed')));
    assert.equal(plan.fire?.run.trigger, 'catchup');
    assert.equal(iso(plan.fire?.run.scheduledFor), '2026-05-04T01:42:00.000Z');
    assert.equal(iso(plan.nextRunAt), '2026-05-04T01:43:00.000Z');
  });

  it('after skipping unlisted missed times, keeps a time exactly at the window start', () => {
    // Window 0: only `now` itself is inside it. 00:00 … 01:40 (101 times) are missed.
    const s = schedule({ cronExpression: '* * * * *', catchupWindowSeconds: 0, nextRunAt: d('2026-05-04T00:00:00Z') });
    const plan = planDueFire(s, d('2026-05-04T01:41:00Z'));
    assert.equal(plan.unfired.length, 100);
    assert.ok(plan.unfired[99].error?.endsWith(NOT_LISTED));
    assert.equal(iso(plan.fire?.run.scheduledFor), '2026-05-04T01:41:00.000Z');
    assert.equal(iso(plan.nextRunAt), '2026-05-04T01:42:00.000Z');
  });

  it('records only missed runs when many were missed and none is inside the window', () => {
    const s = schedule({ cronExpression: '0 * * * *', nextRunAt: d('2026-01-01T00:00:00Z') });
    const plan = planDueFire(s, d('2026-05-04T09:30:00Z'));
    assert.equal(plan.fire, null);
    assert.equal(plan.unfired.length, MAX_MISSED_RUNS_RECORDED);
    assert.ok(plan.unfired[99].error?.endsWith(NOT_LISTED));
    assert.equal(iso(plan.nextRunAt), '2026-05-04T10:00:00.000Z');
  });

  it('fires the last due time before endedAt and then parks the schedule (nextRunAt null)', () => {
    const s = schedule({ nextRunAt: d('2026-05-04T09:00:00Z'), endedAt: d('2026-05-04T12:00:00Z') });
    const plan = planDueFire(s, d('2026-05-04T09:00:05Z'));
    assert.equal(plan.fire?.run.trigger, 'cron');
    assert.equal(iso(plan.fire?.run.scheduledFor), '2026-05-04T09:00:00.000Z');
    assert.equal(plan.nextRunAt, null);
  });

  it('records a missed time before endedAt and parks the schedule when it is all past', () => {
    const s = schedule({ nextRunAt: d('2026-05-04T09:00:00Z'), endedAt: d('2026-05-04T12:00:00Z') });
    const plan = planDueFire(s, d('2026-05-06T10:00:00Z'));
    assert.equal(plan.fire, null);
    assert.deepEqual(
      plan.unfired.map((r) => iso(r.scheduledFor)),
      ['2026-05-04T09:00:00.000Z'],
    );
    assert.equal(plan.nextRunAt, null);
  });

  it('fires nothing when nothing is due, leaving nextRunAt as it was', () => {
    const s = schedule({ nextRunAt: d('2026-05-04T09:00:00Z') });
    const plan = planDueFire(s, d('2026-05-04T08:59:59.999Z'));
    assert.deepEqual(plan, { scheduleId: 'sched-1', fire: null, unfired: [], nextRunAt: d('2026-05-04T09:00:00Z') });
  });

  it('fires nothing for a schedule without a next run', () => {
    const plan = planDueFire(schedule({ nextRunAt: null }), d('2026-05-04T09:00:00Z'));
    assert.deepEqual(plan, { scheduleId: 'sched-1', fire: null, unfired: [], nextRunAt: null });
  });

  it('does not change the schedule it plans for', () => {
    const s = schedule({ cronExpression: '0 * * * *', nextRunAt: d('2026-05-04T06:00:00Z') });
    const before = structuredClone(s);
    planDueFire(s, d('2026-05-04T09:02:00Z'));
    assert.deepEqual(s, before);
  });

  describe('across DST changes in Europe/Berlin (daily 02:30)', () => {
    const berlin = (overrides: Partial<Schedule> = {}) =>
      schedule({ timezone: 'Europe/Berlin', cronExpression: '30 2 * * *', ...overrides });

    it('on spring-forward day (2026-03-29) fires once, at 03:00 local', () => {
      // The fire on 2026-03-28 (02:30 GMT+1) sets the next one to the first valid instant after the gap.
      const first = planDueFire(berlin({ nextRunAt: d('2026-03-28T01:30:00Z') }), d('2026-03-28T01:30:01Z'));
      assert.equal(iso(first.nextRunAt), '2026-03-29T01:00:00.000Z'); // 03:00 GMT+2

      const plan = planDueFire(berlin({ nextRunAt: first.nextRunAt }), d('2026-03-29T01:00:01Z'));
      assert.equal(plan.fire?.run.trigger, 'cron');
      assert.equal(iso(plan.fire?.run.scheduledFor), '2026-03-29T01:00:00.000Z');
      assert.deepEqual(plan.unfired, []);
      assert.equal(iso(plan.nextRunAt), '2026-03-30T00:30:00.000Z'); // 02:30 GMT+2
    });

    it('on spring-forward day, an hour-long outage still finds a single fire time', () => {
      const plan = planDueFire(
        berlin({ nextRunAt: d('2026-03-29T01:00:00Z'), catchupWindowSeconds: 7200 }),
        d('2026-03-29T02:00:00Z'),
      );
      assert.equal(plan.fire?.run.trigger, 'cron');
      assert.equal(iso(plan.fire?.run.scheduledFor), '2026-03-29T01:00:00.000Z');
      assert.equal(iso(plan.nextRunAt), '2026-03-30T00:30:00.000Z');
    });

    it('on fall-back day (2026-10-25) fires once, at the first 02:30', () => {
      const plan = planDueFire(berlin({ nextRunAt: d('2026-10-25T00:30:00Z') }), d('2026-10-25T00:30:01Z'));
      assert.equal(plan.fire?.run.trigger, 'cron');
      assert.equal(iso(plan.fire?.run.scheduledFor), '2026-10-25T00:30:00.000Z'); // 02:30 GMT+2
      assert.equal(iso(plan.nextRunAt), '2026-10-26T01:30:00.000Z'); // not 2026-10-25T01:30Z, the second 02:30

      // Nothing is due at the second 02:30.
      const later = planDueFire(berlin({ nextRunAt: plan.nextRunAt }), d('2026-10-25T01:30:01Z'));
      assert.equal(later.fire, null);
      assert.deepEqual(later.unfired, []);
    });

    it('on fall-back day, catching up after the repeated hour counts the 02:30 once', () => {
      const plan = planDueFire(
        berlin({ nextRunAt: d('2026-10-25T00:30:00Z'), catchupWindowSeconds: 7200 }),
        d('2026-10-25T01:45:00Z'),
      );
      assert.equal(plan.fire?.run.trigger, 'cron');
      assert.equal(iso(plan.fire?.run.scheduledFor), '2026-10-25T00:30:00.000Z');
      assert.equal(iso(plan.nextRunAt), '2026-10-26T01:30:00.000Z');
    });

    it('agrees with nextFireAfter for the next run', () => {
      const s = berlin({ nextRunAt: d('2026-10-25T00:30:00Z') });
      const plan = planDueFire(s, d('2026-10-25T00:30:01Z'));
      assert.equal(iso(plan.nextRunAt), iso(nextFireAfter(s, d('2026-10-25T00:30:01Z'))));
    });
  });
});
